"""A pool scripted by the test, after the mock pool of the seed's tests."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable, Iterable
from typing import Any, NoReturn

import attrs
import trio

from trio_pool._bound import BoundCall


async def echo(request: Any) -> Any:
    await trio.lowlevel.checkpoint()
    return ("response", request)


@attrs.define(eq=False)
class MockPool:
    """Records every change it is given; readiness and failures are set by the test.

    ``in_flight`` counts calls bound and not yet finished (or closed unawaited): it must
    be back at zero whenever no call is running.
    """

    respond: Callable[[Any], Coroutine[Any, Any, Any]] = echo
    fast_path: bool = True
    endpoints: dict[Hashable, Any] = attrs.field(factory=dict)
    changes: list[tuple[Any, ...]] = attrs.field(factory=list)
    requests: list[Any] = attrs.field(factory=list)
    dispatch_times: list[float] = attrs.field(factory=list)
    in_flight: int = 0
    ready_calls: int = 0
    closed: bool = False
    _is_ready: bool = False
    _changed: trio.Event = attrs.field(factory=trio.Event)
    _drive_error: BaseException | None = None
    _ready_error: BaseException | None = None

    # -- the test's handle ------------------------------------------------------------

    def set_ready(self, ready: bool) -> None:
        self._is_ready = ready
        self._notify()

    def fail_drive(self, error: BaseException) -> None:
        self._drive_error = error
        self._notify()

    def fail_ready(self, error: BaseException) -> None:
        self._ready_error = error
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -- the Pool protocol ------------------------------------------------------------

    def reset_pool(self, endpoints: Iterable[tuple[Hashable, Any]]) -> None:
        pairs = tuple(endpoints)
        self.changes.append(("reset", pairs))
        self.endpoints = dict(pairs)

    def add_endpoint(self, address: Hashable, target: Any) -> None:
        self.changes.append(("add", address, target))
        self.endpoints[address] = target

    def remove_endpoint(self, address: Hashable) -> None:
        self.changes.append(("remove", address))
        self.endpoints.pop(address, None)

    async def drive(self) -> NoReturn:
        while self._drive_error is None:
            await self._changed.wait()
        raise self._drive_error

    async def ready(self) -> None:
        self.ready_calls += 1
        while True:
            await trio.lowlevel.checkpoint()
            if self._ready_error is not None:
                raise self._ready_error
            if self._is_ready:
                return
            await self._changed.wait()

    def ready_nowait(self) -> None:
        if not (self.fast_path and self._is_ready and self._ready_error is None):
            raise trio.WouldBlock

    def call(self, request: Any) -> BoundCall[Any]:
        self.requests.append(request)
        self.dispatch_times.append(trio.current_time())
        self.in_flight += 1
        return BoundCall(self.respond(request), self._call_done)

    def _call_done(self, outcome: object) -> None:
        self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()
