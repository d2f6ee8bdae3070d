"""Scale: what a pool costs as it grows to 100,000 endpoints, and more.

Over a `P2CPool` (Peak-EWMA) of instant endpoints, plain ones by default (only
``ready()``, ``call()``, ``aclose()``), with the figures of endpoints that offer
``ready_nowait()`` beside them:

- per-call cost through `open_pool_queue` with 10 endpoints and with 100,000, same
  callers, same run: P2C is O(1) per pick, so the ratio should stay near 1;
- per-call cost of a `LeastLoadedPool` with 100,000 endpoints against P2C's: its heap
  costs O(log n) per call (goal: at most 1.5x);
- a `Reset` of 100,000 new endpoints into a running queue, then the first call: the
  time from the update to the first answer, beside the floor of building a dict of the
  same pairs;
- the longest stall of the event loop while a `Reset` of 200,000 new endpoints is
  applied and its endpoints are made and made ready: the longest gap between two
  wake-ups of a task that sleeps for a millisecond at a time, beside the same task's
  longest gap while the loop is idle.

    ./dev python benchmarks/bench_scale.py [--endpoints N] [--stall-endpoints N]
"""

from __future__ import annotations

import argparse
import gc
import math
import time
from collections.abc import Callable
from typing import Any

import trio
import trio.testing
from _common import best_of, report
from _endpoints import KINDS, Plain

import trio_pool


def pairs(count: int) -> list[tuple[tuple[str, int], None]]:
    return [((f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 8080), None) for i in range(count)]


POOLS: dict[str, Callable[[type[Plain]], trio_pool.BalancedPool[Any, None, int, int]]] = {
    "p2c": trio_pool.P2CPool,
    "least_loaded": trio_pool.LeastLoadedPool,
}


async def per_call(
    kind: str, endpoints: int, calls: int, callers: int, pool_name: str = "p2c"
) -> float:
    """Seconds per call through the queue with ``endpoints`` endpoints."""
    pool = POOLS[pool_name](KINDS[kind])
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    send.send_nowait(trio_pool.Reset(pairs(endpoints)))
    each = calls // callers

    async def caller() -> None:
        for i in range(each):
            await queue.call(i)

    async with trio_pool.open_pool_queue(pool, discovery) as queue:
        await trio.testing.wait_all_tasks_blocked()
        assert pool.statistics().ready == endpoints
        # Measure the steady state of a long-lived pool: the objects the Reset just made
        # would otherwise be traced through the collector's generations during the
        # timed calls, a one-off cost that a running service has long paid.
        gc.collect()
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(callers):
                nursery.start_soon(caller)
        elapsed = time.perf_counter() - start
    return elapsed / (each * callers)


async def reset_then_first_call(kind: str, endpoints: int) -> float:
    """Seconds from sending a Reset of ``endpoints`` new ones to the first answer."""
    pool: trio_pool.P2CPool[Any, None, int, int] = trio_pool.P2CPool(KINDS[kind])
    update: trio_pool.Reset[Any, None] = trio_pool.Reset(pairs(endpoints))
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    async with trio_pool.open_pool_queue(pool, discovery) as queue:
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        send.send_nowait(update)
        assert await queue.call(1) == 1
        return time.perf_counter() - start


def dict_build(endpoints: int) -> float:
    items = pairs(endpoints)
    start = time.perf_counter()
    built = dict(items)
    elapsed = time.perf_counter() - start
    assert len(built) == endpoints
    return elapsed


async def longest_stall(kind: str | None, endpoints: int) -> float:
    """The longest gap between the wake-ups of a task sleeping 1 ms at a time, from
    the moment a Reset of ``endpoints`` new ones reaches a running queue until they are
    all ready (``kind=None``: as long, with an idle loop)."""
    gaps: list[float] = []
    done = trio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await trio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    update: trio_pool.Reset[Any, None] = trio_pool.Reset(pairs(endpoints))
    pool: trio_pool.P2CPool[Any, None, int, int] = trio_pool.P2CPool(
        KINDS[kind if kind is not None else "plain"]
    )
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    async with trio_pool.open_pool_queue(pool, discovery), trio.open_nursery() as nursery:
        nursery.start_soon(heartbeat)
        await trio.sleep(0.05)
        gaps.clear()
        if kind is None:
            await trio.sleep(0.5)
        else:
            send.send_nowait(update)
            # The pool has no event for "all ready": poll, as a user would.
            while pool.statistics().ready < endpoints:  # noqa: ASYNC110
                await trio.sleep(0.01)
        done.set()
    return max(gaps) - 0.001


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=100_000)
    parser.add_argument("--stall-endpoints", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--callers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    figures: dict[str, float] = {"endpoints": args.endpoints}
    floor = min(dict_build(args.endpoints) for _ in range(args.rounds))
    figures["dict_build_s"] = round(floor, 5)
    for kind in KINDS:

        def seconds_per_call(endpoints: int, kind: str = kind) -> Callable[[], float]:
            return lambda: -trio.run(per_call, kind, endpoints, args.calls, args.callers)

        small, large = best_of(args.rounds, seconds_per_call(10), seconds_per_call(args.endpoints))
        small, large = -small, -large
        first = min(
            trio.run(reset_then_first_call, kind, args.endpoints) for _ in range(args.rounds)
        )
        print(
            f"{kind}: per call {small * 1e6:.2f} us with 10 endpoints, {large * 1e6:.2f} us with "
            f"{args.endpoints:,} = {large / small:.3f}x; a Reset of {args.endpoints:,} new "
            f"endpoints then the first answer: {first:.3f} s (a dict of the same pairs: "
            f"{floor * 1e3:.1f} ms)",
            flush=True,
        )
        figures[f"{kind}_per_call_us_10"] = round(small * 1e6, 3)
        figures[f"{kind}_per_call_us_large"] = round(large * 1e6, 3)
        figures[f"{kind}_per_call_ratio"] = round(large / small, 3)
        figures[f"{kind}_reset_then_first_call_s"] = round(first, 4)
    for kind in KINDS:
        # The least-loaded pool's heap costs O(log n) per call: against P2C, same size.
        def per_call_of(pool_name: str, kind: str = kind) -> Callable[[], float]:
            return lambda: (
                -trio.run(per_call, kind, args.endpoints, args.calls, args.callers, pool_name)
            )

        p2c, least = best_of(args.rounds, per_call_of("p2c"), per_call_of("least_loaded"))
        p2c, least = -p2c, -least
        print(
            f"{kind}: per call with {args.endpoints:,} endpoints, least-loaded "
            f"{least * 1e6:.2f} us, P2C {p2c * 1e6:.2f} us = {least / p2c:.3f}x",
            flush=True,
        )
        figures[f"{kind}_least_loaded_per_call_us_large"] = round(least * 1e6, 3)
        figures[f"{kind}_least_loaded_vs_p2c"] = round(least / p2c, 3)
    idle = trio.run(longest_stall, None, args.stall_endpoints)
    figures["idle_stall_s"] = round(idle, 4)
    for kind in KINDS:
        stall = trio.run(longest_stall, kind, args.stall_endpoints)
        print(
            f"{kind}: longest event-loop stall while a Reset of {args.stall_endpoints:,} new "
            f"endpoints is applied and made ready: {stall * 1e3:.1f} ms "
            f"(idle loop: {idle * 1e3:.2f} ms)",
            flush=True,
        )
        figures[f"{kind}_reset_stall_s"] = round(stall, 4)
    figures["stall_endpoints"] = args.stall_endpoints
    report("scale", figures)


if __name__ == "__main__":
    main()
