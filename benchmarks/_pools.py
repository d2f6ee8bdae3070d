"""Small pools for the queue benchmarks, so that they measure the queue, not a balancer."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, NoReturn

import trio


class InstantEndpoint:
    """An endpoint that answers at once, without a checkpoint."""

    __slots__ = ("address", "target")

    def __init__(self, address: Hashable, target: Any) -> None:
        self.address = address
        self.target = target

    async def call(self, request: Any) -> Any:
        return request


class DictPool:
    """Endpoints in a dict, always ready; the next call goes to the first of them.

    A changed target rebuilds the endpoint, as a real pool must.
    """

    def __init__(self) -> None:
        self.endpoints: dict[Hashable, InstantEndpoint] = {}
        self.rebuilt = 0
        self._selected: InstantEndpoint | None = None

    def reset_pool(self, endpoints: Iterable[tuple[Hashable, Any]]) -> None:
        new = dict(endpoints)
        for address in [a for a in self.endpoints if a not in new]:
            del self.endpoints[address]
        for address, target in new.items():
            self.add_endpoint(address, target)

    def add_endpoint(self, address: Hashable, target: Any) -> None:
        current = self.endpoints.get(address)
        if current is None or current.target != target:
            self.endpoints[address] = InstantEndpoint(address, target)
            self.rebuilt += current is not None

    def remove_endpoint(self, address: Hashable) -> None:
        self.endpoints.pop(address, None)

    async def drive(self) -> NoReturn:
        await trio.sleep_forever()

    def ready_nowait(self) -> None:
        if not self.endpoints:
            raise trio.WouldBlock
        self._selected = next(iter(self.endpoints.values()))

    async def ready(self) -> None:
        await trio.lowlevel.checkpoint()
        self.ready_nowait()

    def call(self, request: Any) -> Any:
        assert self._selected is not None
        return self._selected.call(request)

    async def aclose(self) -> None:
        self.endpoints.clear()
        await trio.lowlevel.checkpoint()


class WithoutFastPath:
    """Wraps a pool, hiding ``ready_nowait`` so every call goes through the worker."""

    def __init__(self, pool: DictPool) -> None:
        self._pool = pool

    def reset_pool(self, endpoints: Iterable[tuple[Hashable, Any]]) -> None:
        self._pool.reset_pool(endpoints)

    def add_endpoint(self, address: Hashable, target: Any) -> None:
        self._pool.add_endpoint(address, target)

    def remove_endpoint(self, address: Hashable) -> None:
        self._pool.remove_endpoint(address)

    async def drive(self) -> NoReturn:
        await self._pool.drive()

    async def ready(self) -> None:
        await self._pool.ready()

    def call(self, request: Any) -> Any:
        return self._pool.call(request)

    async def aclose(self) -> None:
        await self._pool.aclose()


class ReadyEndpoint:
    """An endpoint that is always ready, says so synchronously, and answers at once."""

    __slots__ = ("address",)

    def __init__(self, address: Hashable, target: Any = None) -> None:
        self.address = address

    def ready_nowait(self) -> None:
        pass

    async def ready(self) -> None:
        await trio.lowlevel.checkpoint()

    async def call(self, request: Any) -> Any:
        return request
