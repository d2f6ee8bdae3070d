"""Dispatch: calls/s through `open_pool_queue` + `P2CPool`, against the raw Trio floor.

The raw floor is what a request costs when Trio hands it to another task and gets the
answer back: a worker task receiving ``(request, reply)`` from a memory channel and
answering each over a one-shot channel (a memory channel of size 1 per request). A
stricter floor is measured beside it, whose reply is a bare slot (an Event and a value),
the least Trio can do. The queue runs with metrics enabled, over a `P2CPool`
(Peak-EWMA) of instant endpoints, which answer at once:

- *plain* endpoints, the default, with only the protocol's methods, ``ready()``
  returning at once (``async def ready(self): pass``);
- *ready_nowait* endpoints, which also offer the optional ``ready_nowait()``;
- *checkpoint* endpoints, plain ones whose ``ready()`` checkpoints first
  (``await trio.lowlevel.checkpoint()``), as Trio functions do.

Figures are calls per second, each as a ratio of the floor's in the same run (and of the
strict floor's), at 1 and at 100 concurrent callers, over 1 endpoint and over 100.

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
from _endpoints import KINDS as PLAIN_AND_NOWAIT
from _endpoints import Checkpoint, Plain
from prometheus_client import CollectorRegistry

import trio_pool


class _OneShot:
    __slots__ = ("event", "value")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.value: Any = None


async def raw_floor(callers: int, calls_each: int, endpoints: int) -> None:
    send, receive = trio.open_memory_channel[tuple[Any, trio.MemorySendChannel[Any]]](100)

    async def worker() -> None:
        async for request, reply in receive:
            reply.send_nowait(request)

    async def caller() -> None:
        for i in range(calls_each):
            reply, answer = trio.open_memory_channel[Any](1)
            await send.send((i, reply))
            assert await answer.receive() == i

    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker)
        async with trio.open_nursery() as callers_nursery:
            for _ in range(callers):
                callers_nursery.start_soon(caller)
        nursery.cancel_scope.cancel()


async def strict_floor(callers: int, calls_each: int, endpoints: int) -> None:
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


KINDS: dict[str, type[Plain]] = {**PLAIN_AND_NOWAIT, "checkpoint": Checkpoint}


async def through_queue(callers: int, calls_each: int, endpoints: int, kind: str) -> None:
    pool: trio_pool.P2CPool[Any, None, int, int] = trio_pool.P2CPool(KINDS[kind])
    metrics = trio_pool.QueueMetricFamilies.register(CollectorRegistry()).labels()
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    send.send_nowait(trio_pool.Reset([(("10.0.0.1", 8000 + i), None) for i in range(endpoints)]))

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
    parser.add_argument("--calls", type=int, default=50_000, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    figures: dict[str, float] = {}
    for endpoints in (1, 100):
        for callers in (1, 100):
            each = args.calls // callers
            total = each * callers
            floor, strict, *queues = best_of(
                args.rounds,
                calls_per_s(total, raw_floor, callers, each, endpoints),
                calls_per_s(total, strict_floor, callers, each, endpoints),
                *(
                    calls_per_s(total, through_queue, callers, each, endpoints, kind)
                    for kind in KINDS
                ),
            )
            line = [
                f"{endpoints:>3} endpoint(s), {callers:>3} callers: "
                f"floor {floor:>9,.0f} calls/s (strict {strict:>9,.0f});"
            ]
            for kind, rate in zip(KINDS, queues, strict=True):
                line.append(f"{kind} {rate:>9,.0f} = {rate / floor:.2f}x ({rate / strict:.2f}x);")
                figures[f"{kind}_ratio_{callers}c_{endpoints}e"] = round(rate / floor, 3)
                figures[f"{kind}_strict_ratio_{callers}c_{endpoints}e"] = round(rate / strict, 3)
                figures[f"{kind}_calls_per_s_{callers}c_{endpoints}e"] = round(rate)
            figures[f"floor_calls_per_s_{callers}c_{endpoints}e"] = round(floor)
            figures[f"strict_floor_calls_per_s_{callers}c_{endpoints}e"] = round(strict)
            print(" ".join(line), flush=True)
    report("dispatch", figures)


if __name__ == "__main__":
    main()
