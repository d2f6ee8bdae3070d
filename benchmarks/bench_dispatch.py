"""Dispatch: calls/s through `open_pool_queue` with instant endpoints, against the raw floor.

The raw floor is the least that Trio needs to hand a request to another task and get the
answer back: a worker task receiving ``(request, reply)`` from a memory channel and
answering each over a one-shot slot (an Event and a value). The queue runs with metrics
enabled. Figures are calls per second, the queue's as a ratio of the floor's, at 1 and
at 100 concurrent callers; beside them, the queue over a pool without the optional
``ready_nowait``, so that every call takes the hop through the worker and waits for
``pool.ready()`` under a failfast deadline.

    ./dev python benchmarks/bench_dispatch.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import trio
import trio.testing
from _common import best_of, report, timed
from _pools import DictPool, WithoutFastPath
from prometheus_client import CollectorRegistry

import trio_pool


class _OneShot:
    __slots__ = ("event", "value")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.value: Any = None


async def raw_floor(callers: int, calls_each: int) -> None:
    send, receive = trio.open_memory_channel[tuple[Any, _OneShot]](100)

    async def worker() -> None:
        async for request, reply in receive:
            reply.value = request
            reply.event.set()

    async def caller() -> None:
        for i in range(calls_each):
            reply = _OneShot()
            await send.send((i, reply))
            await reply.event.wait()
            assert reply.value == i

    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker)
        async with trio.open_nursery() as callers_nursery:
            for _ in range(callers):
                callers_nursery.start_soon(caller)
        nursery.cancel_scope.cancel()


async def through_queue(callers: int, calls_each: int, fast_path: bool = True) -> None:
    pool: Any = DictPool() if fast_path else WithoutFastPath(DictPool())
    metrics = trio_pool.QueueMetricFamilies.register(CollectorRegistry()).labels()
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    send.send_nowait(trio_pool.Reset([(("10.0.0.1", 80), None)]))

    async def caller() -> None:
        for i in range(calls_each):
            assert await queue.call(i) == i

    async with trio_pool.open_pool_queue(pool, discovery, metrics=metrics) as queue:
        await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as nursery:
            for _ in range(callers):
                nursery.start_soon(caller)


def calls_per_s(total: int, run: Any, *args: Any) -> Callable[[], float]:
    return lambda: total / timed(lambda: trio.run(run, *args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    figures: dict[str, float] = {}
    for callers in (1, 100):
        each = args.calls // callers
        total = each * callers
        floor, queue, no_nowait = best_of(
            args.rounds,
            calls_per_s(total, raw_floor, callers, each),
            calls_per_s(total, through_queue, callers, each),
            calls_per_s(total, through_queue, callers, each, False),
        )
        ratio = queue / floor
        print(
            f"{callers:>3} callers: raw floor {floor:>9,.0f} calls/s, "
            f"queue {queue:>9,.0f} calls/s = {ratio:.2f}x the floor; "
            f"a pool without ready_nowait {no_nowait:>9,.0f} = "
            f"{no_nowait / floor:.2f}x"
        )
        figures[f"floor_calls_per_s_{callers}"] = round(floor)
        figures[f"queue_calls_per_s_{callers}"] = round(queue)
        figures[f"no_nowait_calls_per_s_{callers}"] = round(no_nowait)
        figures[f"ratio_{callers}"] = round(ratio, 3)
        figures[f"no_nowait_ratio_{callers}"] = round(no_nowait / floor, 3)
    report("dispatch", figures)


if __name__ == "__main__":
    main()
