"""A soak: minutes of churn, cancellations and endpoint errors through a real queue.

Skipped unless ``TRIO_POOL_SOAK_SECONDS`` is set (``nox -s soak`` sets it to 300): it
runs on the real clock, for long. Discovery churns (adds, removes, target changes and
whole resets, a few ms apart) over endpoints of every kind (with and without
``ready_nowait()``, a ``ready()`` that checkpoints or returns at once), which fail
their readiness and recover, raise from ``call()`` at once or from its awaitable, and
take random times; callers give up at random. It asserts that the queue never closes by
itself, that every call gets one allowed outcome, that no call leaks its accounting, and
that memory stays flat once warm.
"""

from __future__ import annotations

import collections
import gc
import logging
import math
import os
import random
import time
import tracemalloc
from typing import Any

import pytest
import trio

import trio_pool
from trio_pool import Add, FailFastError, Remove, Reset, Update

SECONDS = float(os.environ.get("TRIO_POOL_SOAK_SECONDS", "0"))
POOLS = {
    "p2c": trio_pool.P2CPool,
    "least_loaded": trio_pool.LeastLoadedPool,
    "round_robin": trio_pool.RoundRobinPool,
    "random": trio_pool.RandomPool,
}
pytestmark = pytest.mark.skipif(not SECONDS, reason="set TRIO_POOL_SOAK_SECONDS to soak")

ADDRESSES = [(f"10.0.{i // 256}.{i % 256}", 8080) for i in range(40)]


class Trouble(Exception):
    """An endpoint's own error."""


class Backend:
    """Plays one backend: sometimes down, sometimes slow, sometimes failing calls."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.down = False


class SoakEndpoint:
    """An endpoint with only the protocol's methods, whose behaviour its backend sets."""

    closed_count = 0  # across all endpoints: no list of them, which would hold memory

    def __init__(self, backend: Backend, rng: random.Random, instant: bool) -> None:
        self.backend = backend
        self.rng = rng
        self.instant = instant
        self.closed = False
        self.running = 0

    async def ready(self) -> None:
        if not self.instant:
            await trio.lowlevel.checkpoint()
        if self.backend.down:
            await trio.sleep(self.rng.random() * 0.002)
            raise ConnectionRefusedError("backend down")
        if self.rng.random() < 0.01:
            await trio.sleep(self.rng.random() * 0.003)  # briefly busy

    def call(self, request: Any) -> Any:
        if self.closed:
            raise AssertionError("called after aclose()")
        if self.rng.random() < 0.01:
            raise Trouble("rejected at once")
        return self._answer(request)

    async def _answer(self, request: Any) -> Any:
        self.running += 1
        try:
            await trio.sleep(self.rng.random() * 0.002)
            if self.rng.random() < 0.02:
                raise Trouble("failed")
            return request
        finally:
            self.running -= 1

    async def aclose(self) -> None:
        assert not self.closed, "closed once"
        self.closed = True
        SoakEndpoint.closed_count += 1
        if self.rng.random() < 0.1:
            await trio.sleep(0.001)


class NowaitEndpoint(SoakEndpoint):
    def ready_nowait(self) -> None:
        if self.backend.down:
            raise ConnectionRefusedError("backend down")
        if self.rng.random() < 0.01:
            raise trio.WouldBlock


@pytest.mark.parametrize("name", POOLS)
def test_soak(name: str) -> None:
    rng = random.Random(1234)
    backends = {address: Backend(rng) for address in ADDRESSES}
    made = 0
    SoakEndpoint.closed_count = 0
    outcomes: collections.Counter[str] = collections.Counter()
    samples: list[tuple[float, int]] = []

    def new_endpoint(address: Any, target: Any) -> SoakEndpoint:
        nonlocal made
        if rng.random() < 0.01:
            raise OSError("factory failed")
        kind = rng.choice([SoakEndpoint, NowaitEndpoint])
        made += 1
        return kind(backends[address], rng, instant=rng.random() < 0.5)

    async def main() -> None:
        pool = POOLS[name](new_endpoint)
        send, discovery = trio.open_memory_channel[Update](math.inf)
        send.send_nowait(Reset([(a, 0) for a in ADDRESSES[:20]]))
        deadline = trio.current_time() + SECONDS

        async def churn() -> None:
            generation = 0
            while trio.current_time() < deadline:
                await trio.sleep(rng.random() * 0.005)
                generation += 1
                roll = rng.random()
                if roll < 0.4:
                    send.send_nowait(Add([(rng.choice(ADDRESSES), generation % 3)]))
                elif roll < 0.7:
                    send.send_nowait(Remove([rng.choice(ADDRESSES)]))
                elif roll < 0.75:
                    size = rng.randint(5, len(ADDRESSES))
                    chosen = rng.sample(ADDRESSES, size)
                    send.send_nowait(Reset([(a, rng.randint(0, 2)) for a in chosen]))
                else:
                    backend = backends[rng.choice(ADDRESSES)]
                    backend.down = not backend.down

        async def caller() -> None:
            while trio.current_time() < deadline:
                with trio.move_on_after(rng.random() * 0.01 if rng.random() < 0.1 else 5):
                    try:
                        await queue.call("x")
                        outcomes["response"] += 1
                    except Trouble:
                        outcomes["endpoint error"] += 1
                    except FailFastError:
                        outcomes["failfast"] += 1
                        await trio.sleep(0.01)
                    continue
                outcomes["cancelled"] += 1

        async def measure() -> None:
            warm = trio.current_time() + min(30.0, SECONDS / 4)
            while trio.current_time() < deadline:
                await trio.sleep(min(5.0, SECONDS / 20))
                assert queue.closed_error is None, f"the queue closed: {queue.closed_error!r}"
                if trio.current_time() >= warm:
                    gc.collect()
                    samples.append((trio.current_time(), tracemalloc.get_traced_memory()[0]))

        async with trio_pool.open_pool_queue(pool, discovery, failfast_timeout=0.2) as queue:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(churn)
                nursery.start_soon(measure)
                for _ in range(50):
                    nursery.start_soon(caller)
            assert queue.closed_error is None, f"the queue closed: {queue.closed_error!r}"
            statistics = pool.statistics()
            assert statistics.in_flight == 0, "every call's accounting ended"
        assert SoakEndpoint.closed_count == made, "every endpoint closed once the queue was left"

    # The endpoints' failures log a warning each, thousands of them: a log capture
    # that kept them all would be the only thing to grow.
    logger = logging.getLogger("trio_pool")
    level = logger.level
    logger.setLevel(logging.ERROR)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        trio.run(main)
    finally:
        tracemalloc.stop()
        logger.setLevel(level)
    elapsed = time.perf_counter() - started
    growth = samples[-1][1] - samples[0][1] if len(samples) >= 2 else 0
    calls = sum(outcomes.values())
    print(
        f"\nsoak {name}: {elapsed:.0f} s, {calls:,} calls {dict(outcomes)}, "
        f"{made:,} endpoints made, queue closures: 0, memory growth once warm: "
        f"{growth / 1024:.1f} KiB over {len(samples)} samples"
    )
    assert calls > 0
    assert outcomes["response"] > calls / 2
    assert growth < 2 * 1024 * 1024, f"memory grew by {growth / 1024:.0f} KiB once warm"
