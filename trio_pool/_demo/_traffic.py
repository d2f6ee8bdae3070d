"""Open-loop load through one balanced client, and what it measured."""

from __future__ import annotations

import collections
import math
import random

import attrs
import httpx
import trio
from prometheus_client import Counter, Histogram

from ..httpx import BalancerClosedError, BalancerFailFastError

__all__ = ["BalancerStats", "drive_load"]


@attrs.define(eq=False)
class BalancerStats:
    """What one balancer's requests saw."""

    name: str
    latencies: list[float] = attrs.field(factory=list)
    """Seconds from arrival to response headers, successful requests only."""
    ok: int = 0
    server_errors: int = 0
    failfast: int = 0
    other_errors: int = 0
    by_backend: collections.Counter[str] = attrs.field(factory=collections.Counter)
    requests_metric: Counter | None = None
    """A family labelled (balancer, outcome), counted as requests end."""
    latency_metric: Histogram | None = None
    """A family labelled (balancer), observed for successful requests."""
    _sorted_upto: int = 0
    _sorted: list[float] = attrs.field(factory=list)

    @property
    def total(self) -> int:
        return self.ok + self.server_errors + self.failfast + self.other_errors

    @property
    def success(self) -> float:
        return self.ok / self.total if self.total else math.nan

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0-1) of successful latencies so far, in seconds."""
        if len(self.latencies) != self._sorted_upto:
            self._sorted = sorted(self.latencies)
            self._sorted_upto = len(self.latencies)
        if not self._sorted:
            return math.nan
        return self._sorted[min(len(self._sorted) - 1, int(q * len(self._sorted)))]

    def record(self, outcome: str, backend: str | None, latency: float | None) -> None:
        """Count one finished request: ``outcome`` is ok, 5xx, failfast or error."""
        if outcome == "ok":
            self.ok += 1
        elif outcome == "5xx":
            self.server_errors += 1
        elif outcome == "failfast":
            self.failfast += 1
        else:
            self.other_errors += 1
        if backend is not None:
            self.by_backend[backend] += 1
        if latency is not None:
            self.latencies.append(latency)
        if self.requests_metric is not None:
            self.requests_metric.labels(self.name, outcome).inc()
        if self.latency_metric is not None and latency is not None:
            self.latency_metric.labels(self.name).observe(latency)

    def share(self, backend: str) -> float:
        served = sum(self.by_backend.values())
        return self.by_backend[backend] / served if served else 0.0


async def drive_load(
    client: httpx.AsyncClient,
    url: str,
    *,
    rate: float,
    duration: float,
    stats: BalancerStats,
    rng: random.Random,
) -> None:
    """Send requests to ``url`` as a Poisson process of ``rate``/s for ``duration`` s.

    Open loop: arrivals do not wait for earlier responses, as real users don't.
    """

    async def one() -> None:
        arrived = trio.current_time()
        try:
            response = await client.get(url)
        except BalancerFailFastError:
            stats.record("failfast", None, None)
            return
        except (httpx.HTTPError, BalancerClosedError):
            stats.record("error", None, None)
            return
        backend = response.headers.get("x-backend", "?")
        if response.status_code >= 500:
            stats.record("5xx", backend, None)
        else:
            stats.record("ok", backend, trio.current_time() - arrived)

    deadline = trio.current_time() + duration
    async with trio.open_nursery() as requests:
        while trio.current_time() < deadline:
            requests.start_soon(one)
            await trio.sleep(rng.expovariate(rate))
