"""A pool of your own behind `open_pool_queue`: the smallest complete example.

`FirstReadyPool` sends every request to the first endpoint in its membership. It shows
what the queue asks of a pool: synchronous membership changes, a ``drive()`` loop, a
``ready()`` that selects an endpoint, a ``call()`` that binds to it, and an ``aclose()``
that releases what the pool holds when the queue closes. The run prints
each step: requests served, an update applied while no request flows, failfast while the
pool is empty, and recovery.

    python examples/own_pool.py
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Iterable
from typing import NoReturn

import trio

import trio_pool


class Backend:
    """A pretend backend: answers after ``latency`` seconds."""

    def __init__(self, name: str, latency: float) -> None:
        self.name = name
        self.latency = latency

    async def call(self, request: str) -> str:
        await trio.sleep(self.latency)
        return f"{self.name} answered {request!r}"


class FirstReadyPool:
    def __init__(self) -> None:
        self._members: dict[str, Backend] = {}
        self._changed = trio.Event()
        self._selected: Backend | None = None

    def reset_pool(self, endpoints: Iterable[tuple[str, float]]) -> None:
        self._members = {address: Backend(address, latency) for address, latency in endpoints}
        self._notify()

    def add_endpoint(self, address: str, target: float) -> None:
        self._members[address] = Backend(address, target)
        self._notify()

    def remove_endpoint(self, address: str) -> None:
        self._members.pop(address, None)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def drive(self) -> NoReturn:
        # Pretend backends are ready as soon as they exist: nothing to drive.
        await trio.sleep_forever()

    async def ready(self) -> None:
        await trio.lowlevel.checkpoint()
        while not self._members:
            await self._changed.wait()
        # No checkpoint between this selection and the queue's call(): no update can
        # remove the selected endpoint in between.
        self._selected = next(iter(self._members.values()))

    def call(self, request: str) -> Awaitable[str]:
        assert self._selected is not None, "ready() selects before call()"
        return self._selected.call(request)

    async def aclose(self) -> None:
        # Pretend backends hold nothing; a real pool closes its endpoints' connections.
        self._members.clear()
        await trio.lowlevel.checkpoint()


async def main() -> None:
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    send.send_nowait(trio_pool.Reset([("alpha", 0.01), ("beta", 0.02)]))
    async with trio_pool.open_pool_queue(
        FirstReadyPool(), discovery, failfast_timeout=0.5
    ) as queue:
        print(await queue.call("hello"))

        print("discovery removes alpha while no request flows")
        send.send_nowait(trio_pool.Remove(["alpha"]))
        await trio.sleep(0.01)
        print(await queue.call("hello again"))

        print("the name disappears: requests fail fast after 0.5 s")
        send.send_nowait(trio_pool.DoesNotExist())
        try:
            await queue.call("anyone?")
        except trio_pool.FailFastError as error:
            print(f"FailFastError: {error}; is_failfast={queue.is_failfast}")

        send.send_nowait(trio_pool.Add([("gamma", 0.01)]))
        await queue.wait_available()
        print(f"gamma arrives; is_failfast={queue.is_failfast}")
        print(await queue.call("welcome back"))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    trio.run(main)
