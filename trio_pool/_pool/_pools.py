"""The shipped pools: `BalancedPool` with a policy each.

- `P2CPool`: the power of two choices over the ready endpoints, by load (Peak-EWMA by
  default): the pool to use.
- `LeastLoadedPool`: the exact lowest load among the ready endpoints, from a heap: where
  a few endpoints are much slower than the rest, it never picks them while a better one
  is ready, which P2C does whenever both its random picks are slow.
- `RoundRobinPool` and `RandomPool`: the load-blind baselines that benchmarks compare
  against. They count calls in flight all the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from typing import TypeVar

import attrs

from .._backoff import Backoff
from ._balanced import BalancedPool
from ._health import OutlierDetection, SlowStart
from ._least_loaded import LeastLoaded
from ._load import Load, PeakEwma, PendingRequests
from ._metrics import PoolMetrics
from ._policy import PowerOfTwoChoices, RoundRobin, UniformRandom
from ._protocol import Endpoint

__all__ = ["LeastLoadedPool", "P2CPool", "RandomPool", "RoundRobinPool"]

Addr = TypeVar("Addr", bound=Hashable)
T = TypeVar("T")
Req = TypeVar("Req")
Rsp = TypeVar("Rsp")


@attrs.define(eq=False, init=False)
class P2CPool(BalancedPool[Addr, T, Req, Rsp]):
    """Power of two choices over the ready endpoints, by ``load``.

    Args:
        new_endpoint: ``new_endpoint(address, target)`` makes the endpoint for an address;
            called again when its target changes or after it failed.
        load: how endpoints are compared: `PeakEwma` (default) or `PendingRequests`.
        rng: the source of randomness (picks and backoff jitter), for reproducible runs.
        backoff: how long a failed endpoint waits before it is made anew.
        metrics: children of `PoolMetricFamilies.labels`, or ``None``.
        outlier: `OutlierDetection` to eject endpoints that fail too often, or ``None``.
        slow_start: `SlowStart` to ramp up the share of endpoints that join, or ``None``.
    """

    def __init__(
        self,
        new_endpoint: Callable[[Addr, T], Endpoint[Req, Rsp]],
        *,
        load: Load | None = None,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        metrics: PoolMetrics | None = None,
        outlier: OutlierDetection | None = None,
        slow_start: SlowStart | None = None,
    ) -> None:
        rng = rng if rng is not None else random.Random()
        super().__init__(
            new_endpoint,
            PowerOfTwoChoices(rng, slow_start),
            load=load if load is not None else PeakEwma(),
            rng=rng,
            backoff=backoff,
            metrics=metrics,
            outlier=outlier,
            slow_start=slow_start,
        )


@attrs.define(eq=False, init=False)
class LeastLoadedPool(BalancedPool[Addr, T, Req, Rsp]):
    """The ready endpoint of lowest ``load``, exactly; ties broken at random.

    Each pick costs O(1) and each call's start and end O(log n), from a heap of the
    ready endpoints keyed by load (see `LeastLoaded`). With slow start, an endpoint
    still ramping up counts its load divided by its weight, as in `P2CPool`.

    Against `P2CPool`: the same on a homogeneous fleet, far better in the tail where a
    few endpoints are much slower than the rest (P2C picks a slow one whenever both its
    random picks are), and a little dearer per call in a very large pool. Many clients
    that each send to the endpoint that looks best do not herd onto it: each client's
    own calls in flight raise that endpoint's load at once (see the fleet simulation in
    the benchmarks).

    Arguments as `P2CPool`; ``load`` must offer ``key()`` (`PeakEwma` and
    `PendingRequests` do; see `LoadTracker`), else ``TypeError``. With
    `PendingRequests`, an endpoint that fails fast has the fewest calls in flight and
    takes the most calls: use ``outlier=`` with it. Peak-EWMA counts a failure as a
    slow answer (``failure_penalty``) and does not have that problem.
    """

    def __init__(
        self,
        new_endpoint: Callable[[Addr, T], Endpoint[Req, Rsp]],
        *,
        load: Load | None = None,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        metrics: PoolMetrics | None = None,
        outlier: OutlierDetection | None = None,
        slow_start: SlowStart | None = None,
    ) -> None:
        rng = rng if rng is not None else random.Random()
        policy = LeastLoaded(rng, slow_start)
        super().__init__(
            new_endpoint,
            policy,
            load=policy.indexed(load if load is not None else PeakEwma()),
            rng=rng,
            backoff=backoff,
            metrics=metrics,
            outlier=outlier,
            slow_start=slow_start,
        )


@attrs.define(eq=False, init=False)
class RoundRobinPool(BalancedPool[Addr, T, Req, Rsp]):
    """Each request goes to the next ready endpoint in turn.

    The turn follows the ready list, which changes as endpoints come and go, so the order
    is fair over time rather than a fixed cycle of addresses. Arguments as `P2CPool`,
    without ``load`` (``rng`` decides whether slow start passes a new endpoint by).
    """

    def __init__(
        self,
        new_endpoint: Callable[[Addr, T], Endpoint[Req, Rsp]],
        *,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        metrics: PoolMetrics | None = None,
        outlier: OutlierDetection | None = None,
        slow_start: SlowStart | None = None,
    ) -> None:
        rng = rng if rng is not None else random.Random()
        super().__init__(
            new_endpoint,
            RoundRobin(rng, slow_start),
            load=PendingRequests(),
            rng=rng,
            backoff=backoff,
            metrics=metrics,
            outlier=outlier,
            slow_start=slow_start,
        )


@attrs.define(eq=False, init=False)
class RandomPool(BalancedPool[Addr, T, Req, Rsp]):
    """Each request goes to one ready endpoint chosen uniformly at random.

    Arguments as `P2CPool`, without ``load``.
    """

    def __init__(
        self,
        new_endpoint: Callable[[Addr, T], Endpoint[Req, Rsp]],
        *,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        metrics: PoolMetrics | None = None,
        outlier: OutlierDetection | None = None,
        slow_start: SlowStart | None = None,
    ) -> None:
        rng = rng if rng is not None else random.Random()
        super().__init__(
            new_endpoint,
            UniformRandom(rng, slow_start),
            load=PendingRequests(),
            rng=rng,
            backoff=backoff,
            metrics=metrics,
            outlier=outlier,
            slow_start=slow_start,
        )
