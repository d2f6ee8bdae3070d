"""`P2CPool`: the power of two choices over the ready endpoints.

Pick two distinct ready endpoints at random and send the request to the one with the
lower load (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing"; as in
tower's ``balance::p2c`` and Linkerd's P2C pool). Two random choices keep the maximum load
exponentially closer to the mean than one, while costing O(1) per pick whatever the pool
size: no sorting, no scan. Ties go to the first pick, which is itself random.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from typing import TypeVar

import attrs

from ._backoff import Backoff
from ._endpoint import Endpoint
from ._load import Load, PeakEwma
from ._metrics import PoolMetrics
from ._ready_cache import ReadyCachePool, _Slot

__all__ = ["P2CPool", "distinct_pair"]

Addr = TypeVar("Addr", bound=Hashable)
T = TypeVar("T")
Req = TypeVar("Req")
Rsp = TypeVar("Rsp")


def distinct_pair(rng: random.Random, n: int) -> tuple[int, int]:
    """Two distinct indexes below ``n`` (>= 2), uniformly at random, in random order."""
    first = int(rng.random() * n)
    second = int(rng.random() * (n - 1))
    if second >= first:
        second += 1
    return first, second


@attrs.define(eq=False, init=False)
class P2CPool(ReadyCachePool[Addr, T, Req, Rsp]):
    """Power of two choices over the ready endpoints, by ``load``.

    Args:
        new_endpoint: ``new_endpoint(address, target)`` makes the endpoint for an address;
            called again when its target changes or after it failed.
        load: how endpoints are compared: `PeakEwma` (default) or `PendingRequests`.
        rng: the source of randomness (picks and backoff jitter), for reproducible runs.
        backoff: how long a failed endpoint waits before it is re-created.
        metrics: children of `PoolMetricFamilies.labels`, or ``None``.
    """

    def __init__(
        self,
        new_endpoint: Callable[[Addr, T], Endpoint[Req, Rsp]],
        *,
        load: Load | None = None,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        metrics: PoolMetrics | None = None,
    ) -> None:
        self._setup(new_endpoint, load if load is not None else PeakEwma(), rng, backoff, metrics)

    def _choose(self, now: float) -> _Slot:
        ready = self._ready
        if len(ready) == 1:
            return ready[0]
        first, second = distinct_pair(self._rng, len(ready))
        a, b = ready[first], ready[second]
        return a if a.load.cost(now) <= b.load.cost(now) else b
