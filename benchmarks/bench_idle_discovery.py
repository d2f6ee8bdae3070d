"""Idle discovery: updates streaming into a queue that serves no request.

The seed's problem: a balancer that applies discovery updates only while requests flow
buffers them without bound when idle. Here 200,000 updates, each changing the target of
one of 1,000 endpoints (so the pool rebuilds it: the old endpoint is closed, a new one
made and made ready), stream over a memory channel into

- the queue over a `P2CPool` of plain endpoints (only ``ready()``, ``call()``,
  ``aclose()``), the default, and of endpoints that also offer ``ready_nowait()``,
  each applying every update the moment it arrives;
- a lazy baseline, which stores them until a request arrives (none does).

Figures: memory growth by tracemalloc once the stream has been consumed, and updates
applied per second (timed in a separate run without tracemalloc, which slows Python),
as a ratio of the floor: a task that receives the same updates and stores each in a
dict.

    ./dev python benchmarks/bench_idle_discovery.py [--updates N] [--endpoints N]
"""

from __future__ import annotations

import argparse
import gc
import math
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import trio
import trio.testing
from _common import best_of, report
from _endpoints import KINDS, Nowait

import trio_pool

MiB = 1024 * 1024


def updates(count: int, endpoints: int) -> Iterator[trio_pool.Add[Any, Any]]:
    for i in range(count):
        # Each update gives one endpoint a new target: the pool must rebuild it.
        yield trio_pool.Add([(("10.0.0.1", 8000 + i % endpoints), i)])


def initial(endpoints: int) -> trio_pool.Reset[Any, Any]:
    return trio_pool.Reset([(("10.0.0.1", 8000 + e), -1) for e in range(endpoints)])


Run = Callable[[int, int, Callable[[], None]], Any]


def eager(kind: str) -> Run:
    async def run(count: int, endpoints: int, measure: Callable[[], None]) -> Any:
        pool: trio_pool.P2CPool[Any, Any, Any, Any] = trio_pool.P2CPool(KINDS[kind])
        send, discovery = trio.open_memory_channel[trio_pool.Update](0)
        async with trio_pool.open_pool_queue(pool, discovery):
            await send.send(initial(endpoints))
            await trio.testing.wait_all_tasks_blocked()
            measure()
            for update in updates(count, endpoints):
                await send.send(update)
            await trio.testing.wait_all_tasks_blocked()
            measure()
            assert pool.statistics().updates == count + 1, "every update changed the pool"
            assert pool.statistics().ready == endpoints
        return pool

    return run


async def floor(count: int, endpoints: int, measure: Callable[[], None]) -> Any:
    """A task that receives each update and stores its endpoints in a dict."""
    send, receive = trio.open_memory_channel[trio_pool.Update](0)
    store: dict[Any, Any] = {}

    async def consume() -> None:
        async for update in receive:
            assert isinstance(update, trio_pool.Add | trio_pool.Reset)
            for address, target in update.endpoints:
                store[address] = target

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
    return store


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
    pool: trio_pool.P2CPool[Any, Any, Any, Any] = trio_pool.P2CPool(Nowait)
    balancer = LazyBalancer(pool)
    await balancer.send.send(initial(endpoints))
    await balancer.call("first")
    measure()
    for update in updates(count, endpoints):
        await balancer.send.send(update)
    await trio.testing.wait_all_tasks_blocked()
    measure()
    await pool.aclose()
    return pool


def growth(run: Run, count: int, endpoints: int) -> float:
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


def rate(run: Run, count: int, endpoints: int) -> float:
    """Updates per second, from the first update sent to the last one consumed."""
    marks: list[float] = []
    trio.run(run, count, endpoints, lambda: marks.append(time.perf_counter()))
    return count / (marks[1] - marks[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--endpoints", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, e = args.updates, args.endpoints

    figures: dict[str, float] = {"updates": n, "endpoints": e}
    lazy_growth = growth(lazy, n, e)
    figures["lazy_growth_mib"] = round(lazy_growth / MiB, 3)
    floor_rate, *rates = best_of(
        args.rounds,
        lambda: rate(floor, n, e),
        *(lambda kind=kind: rate(eager(kind), n, e) for kind in KINDS),
    )
    figures["floor_updates_per_s"] = round(floor_rate)
    print(
        f"{n:,} updates over {e:,} endpoints, no requests; the floor (a task storing "
        f"each in a dict): {floor_rate:,.0f} updates/s",
        flush=True,
    )
    for kind, eager_rate in zip(KINDS, rates, strict=True):
        eager_growth = growth(eager(kind), n, e)
        print(
            f"  {kind}: {eager_rate:,.0f} updates/s applied = {eager_rate / floor_rate:.2f}x "
            f"the floor; memory growth {eager_growth / MiB:.3f} MiB",
            flush=True,
        )
        figures[f"{kind}_updates_per_s"] = round(eager_rate)
        figures[f"{kind}_rate_ratio"] = round(eager_rate / floor_rate, 3)
        figures[f"{kind}_growth_mib"] = round(eager_growth / MiB, 4)
    print(
        f"  lazy baseline: memory growth {lazy_growth / MiB:.3f} MiB "
        "(updates held until a request comes)"
    )
    report("idle_discovery", figures)


if __name__ == "__main__":
    main()
