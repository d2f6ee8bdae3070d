"""`RoundRobinPool` and `RandomPool`: the load-blind baselines benchmarks compare against.

They share everything with `P2CPool` (membership diffs, readiness, backoff, accounting)
except the choice: the next ready endpoint in turn, or one ready endpoint at random.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from typing import TypeVar

import attrs

from ._backoff import Backoff
from ._endpoint import Endpoint
from ._load import PendingRequests
from ._metrics import PoolMetrics
from ._ready_cache import ReadyCachePool, _Slot

__all__ = ["RandomPool", "RoundRobinPool"]

Addr = TypeVar("Addr", bound=Hashable)
T = TypeVar("T")
Req = TypeVar("Req")
Rsp = TypeVar("Rsp")


@attrs.define(eq=False, init=False)
class _LoadBlindPool(ReadyCachePool[Addr, T, Req, Rsp]):
    """A pool whose choice ignores load; it counts calls in flight all the same."""

    def __init__(
        self,
        new_endpoint: Callable[[Addr, T], Endpoint[Req, Rsp]],
        *,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        metrics: PoolMetrics | None = None,
    ) -> None:
        self._setup(new_endpoint, PendingRequests(), rng, backoff, metrics)


@attrs.define(eq=False, init=False)
class RoundRobinPool(_LoadBlindPool[Addr, T, Req, Rsp]):
    """Each request goes to the next ready endpoint in turn.

    The turn follows the ready list, which changes as endpoints come and go, so the order
    is fair over time rather than a fixed cycle of addresses. Arguments as `P2CPool`.
    """

    _cursor: int = attrs.field(default=0, init=False)

    def _choose(self, now: float) -> _Slot:
        ready = self._ready
        self._cursor = (self._cursor + 1) % len(ready)
        return ready[self._cursor]


@attrs.define(eq=False, init=False)
class RandomPool(_LoadBlindPool[Addr, T, Req, Rsp]):
    """Each request goes to one ready endpoint chosen uniformly at random.

    Arguments as `P2CPool`.
    """

    def _choose(self, now: float) -> _Slot:
        ready = self._ready
        return ready[int(self._rng.random() * len(ready))]
