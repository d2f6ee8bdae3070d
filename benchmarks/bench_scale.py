"""Scale: what a pool costs as it grows to 100,000 endpoints.

- Per-call cost through `open_pool_queue` + `P2CPool` (Peak-EWMA) with 10 endpoints and
  with 100,000, same callers, same run: P2C is O(1) per pick, so the ratio should stay
  near 1.
- Applying a `Reset` of 100,000 new endpoints that are ready at once (they offer
  ``ready_nowait``, so no task is spent on them), and a `Reset` of the same 100,000
  unchanged; each beside the floor of building a dict of the same pairs.

    ./dev python benchmarks/bench_scale.py [--endpoints N] [--calls N]
"""

from __future__ import annotations

import argparse
import gc
import math
import time
from typing import Any

import trio
import trio.testing
from _common import best_of, report
from _pools import ReadyEndpoint

import trio_pool


async def per_call(endpoints: int, calls: int, callers: int) -> float:
    """Seconds per call through the queue with ``endpoints`` endpoints."""
    pool: trio_pool.P2CPool[Any, None, int, int] = trio_pool.P2CPool(ReadyEndpoint)
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    send.send_nowait(trio_pool.Reset([(("10.0.0.1", i), None) for i in range(endpoints)]))
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


async def reset_times(endpoints: int) -> tuple[float, float, float]:
    """Seconds to apply a Reset of new endpoints, of the same ones unchanged, and the floor."""
    pairs = [(("10.0.0.1", i), None) for i in range(endpoints)]
    update: trio_pool.Reset[Any, None] = trio_pool.Reset(pairs)
    pool: trio_pool.P2CPool[Any, None, int, int] = trio_pool.P2CPool(ReadyEndpoint)
    start = time.perf_counter()
    trio_pool.apply_update(pool, update)
    new = time.perf_counter() - start
    assert pool.statistics().ready == endpoints, "ready at once, no task"
    again: trio_pool.Reset[Any, None] = trio_pool.Reset(pairs)
    start = time.perf_counter()
    trio_pool.apply_update(pool, again)
    unchanged = time.perf_counter() - start
    start = time.perf_counter()
    floor: dict[Any, Any] = dict(pairs)
    floor_time = time.perf_counter() - start
    assert len(floor) == endpoints
    await pool.aclose()
    return new, unchanged, floor_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--callers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    small, large = best_of(
        args.rounds,
        lambda: -trio.run(per_call, 10, args.calls, args.callers),
        lambda: -trio.run(per_call, args.endpoints, args.calls, args.callers),
    )
    small, large = -small, -large
    results = [trio.run(reset_times, args.endpoints) for _ in range(args.rounds)]
    new, unchanged, floor = (min(r[i] for r in results) for i in range(3))
    print(
        f"per call: {small * 1e6:.2f} us with 10 endpoints, {large * 1e6:.2f} us with "
        f"{args.endpoints:,} = {large / small:.3f}x\n"
        f"Reset of {args.endpoints:,} new endpoints: {new:.3f} s = {new / floor:.0f}x a dict "
        f"build ({floor * 1e3:.1f} ms)\n"
        f"Reset of {args.endpoints:,} unchanged: {unchanged:.3f} s = {unchanged / floor:.0f}x"
    )
    report(
        "scale",
        {
            "endpoints": args.endpoints,
            "per_call_us_10": round(small * 1e6, 3),
            "per_call_us_large": round(large * 1e6, 3),
            "per_call_ratio": round(large / small, 3),
            "reset_new_s": round(new, 4),
            "reset_unchanged_s": round(unchanged, 4),
            "dict_build_s": round(floor, 5),
            "reset_new_ratio": round(new / floor, 1),
            "reset_unchanged_ratio": round(unchanged / floor, 1),
        },
    )


if __name__ == "__main__":
    main()
