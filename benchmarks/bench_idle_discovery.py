"""Idle discovery: updates streaming into a queue that serves no request.

The seed's problem: a balancer that applies discovery updates only while requests flow
buffers them without bound when idle. Here 200,000 updates, each changing the target of
one of 1,000 endpoints (so the pool rebuilds it), stream into

- the queue over a `P2CPool`, which applies each the moment it arrives, and
- a lazy baseline, which stores them until a request arrives (none does).

Figures: memory growth by tracemalloc once the stream has been consumed, and updates
applied per second (timed in a separate run without tracemalloc, which slows Python),
as a ratio of a bare consumer task that applies each update to the same kind of pool.

    ./dev python benchmarks/bench_idle_discovery.py [--updates N] [--endpoints N]
"""

from __future__ import annotations

import argparse
import gc
import math
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import trio
import trio.testing
from _common import best_of, report
from _pools import ReadyEndpoint

import trio_pool

MiB = 1024 * 1024


def updates(count: int, endpoints: int) -> Any:
    for i in range(count):
        # Each update gives one endpoint a new target: the pool must rebuild it.
        yield trio_pool.Add([(("10.0.0.1", 8000 + i % endpoints), i)])


def initial(endpoints: int) -> trio_pool.Reset[Any, Any]:
    return trio_pool.Reset([(("10.0.0.1", 8000 + e), -1) for e in range(endpoints)])


async def eager(count: int, endpoints: int, measure: Callable[[], None]) -> Any:
    pool = new_pool()
    send, discovery = trio.open_memory_channel[trio_pool.Update](0)
    async with trio_pool.open_pool_queue(pool, discovery):
        await send.send(initial(endpoints))
        await trio.testing.wait_all_tasks_blocked()
        measure()
        for update in updates(count, endpoints):
            await send.send(update)
        await trio.testing.wait_all_tasks_blocked()
        measure()
    return pool


def new_pool() -> trio_pool.P2CPool[Any, Any, Any, Any]:
    return trio_pool.P2CPool(ReadyEndpoint)


async def floor(count: int, endpoints: int, measure: Callable[[], None]) -> Any:
    """The least a consumer can do: one task applying each update as it is received."""
    pool = new_pool()
    send, receive = trio.open_memory_channel[trio_pool.Update](0)

    async def consume() -> None:
        async for update in receive:
            trio_pool.apply_update(pool, update)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await send.send(initial(endpoints))
        await trio.testing.wait_all_tasks_blocked()
        measure()
        for update in updates(count, endpoints):
            await send.send(update)
        await trio.testing.wait_all_tasks_blocked()
        measure()
        nursery.cancel_scope.cancel()
    return pool


class LazyBalancer:
    """Applies buffered discovery updates only when a request arrives, as the seed's old
    balancer did: the updates wait in an unbounded buffer meanwhile."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.send, self.buffer = trio.open_memory_channel[trio_pool.Update](math.inf)

    async def call(self, request: Any) -> Any:
        while True:
            try:
                trio_pool.apply_update(self.pool, self.buffer.receive_nowait())
            except trio.WouldBlock:
                break
        await self.pool.ready()
        return await self.pool.call(request)


async def lazy(count: int, endpoints: int, measure: Callable[[], None]) -> Any:
    balancer = LazyBalancer(new_pool())
    await balancer.send.send(initial(endpoints))
    await balancer.call("first")
    measure()
    for update in updates(count, endpoints):
        await balancer.send.send(update)
    await trio.testing.wait_all_tasks_blocked()
    measure()
    return balancer.pool


def growth(run: Any, count: int, endpoints: int) -> float:
    """Bytes allocated and still held between the two measure() calls of ``run``."""
    marks: list[int] = []

    def measure() -> None:
        gc.collect()
        marks.append(tracemalloc.get_traced_memory()[0])

    tracemalloc.start()
    try:
        trio.run(run, count, endpoints, measure)
    finally:
        tracemalloc.stop()
    return float(marks[1] - marks[0])


def rate(run: Any, count: int, endpoints: int) -> float:
    """Updates per second, from the first update sent to the last one consumed."""
    marks: list[float] = []
    pool: Any = trio.run(run, count, endpoints, lambda: marks.append(time.perf_counter()))
    if run is not lazy:
        assert pool.statistics().updates == count + 1, "every update changed the pool"
    return count / (marks[1] - marks[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--endpoints", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, e = args.updates, args.endpoints

    eager_growth = growth(eager, n, e)
    lazy_growth = growth(lazy, n, e)
    eager_rate, floor_rate = best_of(
        args.rounds, lambda: rate(eager, n, e), lambda: rate(floor, n, e)
    )
    print(
        f"{n:,} updates over {e:,} endpoints, no requests:\n"
        f"  eager queue: memory growth {eager_growth / MiB:8.3f} MiB, "
        f"{eager_rate:,.0f} updates/s applied = {eager_rate / floor_rate:.2f}x a bare "
        f"consumer task ({floor_rate:,.0f}/s)\n"
        f"  lazy baseline: memory growth {lazy_growth / MiB:8.3f} MiB "
        f"(updates held until a request comes)\n"
        f"  growth ratio eager/lazy: {eager_growth / lazy_growth:.4f}"
    )
    report(
        "idle_discovery",
        {
            "updates": n,
            "endpoints": e,
            "eager_growth_mib": round(eager_growth / MiB, 4),
            "lazy_growth_mib": round(lazy_growth / MiB, 3),
            "growth_ratio": round(eager_growth / lazy_growth, 5),
            "eager_updates_per_s": round(eager_rate),
            "floor_updates_per_s": round(floor_rate),
            "rate_ratio": round(eager_rate / floor_rate, 3),
        },
    )


if __name__ == "__main__":
    main()
