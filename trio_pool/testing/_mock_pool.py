"""`MockPool`: a pool that records every change and whose readiness a test scripts."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable, Iterable
from typing import Any, NoReturn

import attrs
import trio

from .._pool import BoundCall, CallOutcome
from .._update import _endpoint_pairs

__all__ = ["MockPool", "PoolHandle"]


async def echo(request: Any) -> Any:
    """The default response: ``("response", request)``, after one checkpoint."""
    await trio.lowlevel.checkpoint()
    return ("response", request)


@attrs.define(eq=False)
class PoolHandle:
    """Scripts a `MockPool` and shows what it was given."""

    endpoints: dict[Hashable, Any] = attrs.field(factory=dict)
    """The pool's membership after every change so far."""
    changes: list[tuple[Any, ...]] = attrs.field(factory=list)
    """Each change, in order: ``("reset", pairs)``, ``("add", a, t)``, ``("remove", a)``."""
    requests: list[Any] = attrs.field(factory=list)
    """Each request bound, in order."""
    dispatch_times: list[float] = attrs.field(factory=list)
    """When each request was bound (Trio time)."""
    outcomes: list[CallOutcome] = attrs.field(factory=list)
    """How each finished call ended."""
    in_flight: int = 0
    """Calls bound and not yet ended: back to zero whenever no call runs."""
    closed: bool = False
    """Whether the pool's ``aclose()`` ran."""
    _ready: bool = False
    _drive_error: BaseException | None = None
    _ready_error: BaseException | None = None
    _changed: trio.Event = attrs.field(factory=trio.Event)

    def set_ready(self, ready: bool) -> None:
        """Make the pool ready (it selects at once) or not."""
        self._ready = ready
        self._notify()

    def fail_drive(self, error: BaseException) -> None:
        """Make ``drive()`` raise ``error``: a fatal pool failure."""
        self._drive_error = error
        self._notify()

    def fail_ready(self, error: BaseException) -> None:
        """Make ``ready()`` and ``ready_nowait()`` raise ``error``."""
        self._ready_error = error
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


@attrs.define(eq=False)
class MockPool:
    """A `trio_pool.Pool` for testing what sits around a pool (a queue, a transport).

    Membership changes are recorded on ``handle``; readiness and failures come from it.
    Each call answers with ``respond(request)`` (by default ``("response", request)``).
    With ``fast_path`` it offers ``ready_nowait()``, so the queue may skip its worker.
    """

    respond: Callable[[Any], Coroutine[Any, Any, Any]] = echo
    fast_path: bool = True
    handle: PoolHandle = attrs.field(factory=PoolHandle)

    def reset_pool(self, endpoints: Iterable[tuple[Hashable, Any]]) -> None:
        pairs = _endpoint_pairs(endpoints)
        self.handle.changes.append(("reset", tuple(pairs)))
        self.handle.endpoints = dict(pairs)

    def add_endpoint(self, address: Hashable, target: Any) -> None:
        self.handle.changes.append(("add", address, target))
        self.handle.endpoints[address] = target

    def remove_endpoint(self, address: Hashable) -> None:
        self.handle.changes.append(("remove", address))
        self.handle.endpoints.pop(address, None)

    async def drive(self) -> NoReturn:
        handle = self.handle
        while handle._drive_error is None:
            await handle._changed.wait()
        raise handle._drive_error

    async def ready(self) -> None:
        handle = self.handle
        while True:
            await trio.lowlevel.checkpoint()
            if handle._ready_error is not None:
                raise handle._ready_error
            if handle._ready:
                return
            await handle._changed.wait()

    def ready_nowait(self) -> None:
        handle = self.handle
        if not self.fast_path:
            raise trio.WouldBlock
        if handle._ready_error is not None:
            raise handle._ready_error
        if not handle._ready:
            raise trio.WouldBlock

    def call(self, request: Any) -> BoundCall[Any]:
        handle = self.handle
        handle.requests.append(request)
        handle.dispatch_times.append(trio.current_time())
        handle.in_flight += 1
        return BoundCall(self.respond(request), self._call_done)

    def _call_done(self, outcome: CallOutcome) -> None:
        self.handle.in_flight -= 1
        self.handle.outcomes.append(outcome)

    async def aclose(self) -> None:
        self.handle.closed = True
        await trio.lowlevel.checkpoint()
