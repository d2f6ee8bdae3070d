"""`MockEndpoint`: an endpoint whose readiness and answers a test scripts from its handle."""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator, Hashable
from typing import Any

import attrs
import trio

__all__ = ["EndpointHandle", "MockCall", "MockEndpoint"]


class CallState(enum.Enum):
    BOUND = "bound"
    RUNNING = "running"
    DONE = "done"
    CLOSED = "closed"


@attrs.define(eq=False)
class MockCall:
    """One request bound to a `MockEndpoint`: what its ``call()`` returned.

    It records the whole life of the call, so a test can tell a call that ran, one that
    was closed unawaited (its caller left), and one that was leaked: bound, then dropped
    without being awaited or closed.
    """

    endpoint: MockEndpoint
    request: Any
    bound_at: float
    state: CallState = CallState.BOUND
    outcome: str | None = None

    def __await__(self) -> Generator[Any, None, Any]:
        if self.state is not CallState.BOUND:
            raise RuntimeError(f"{self!r} awaited twice, or after close()")
        self.state = CallState.RUNNING
        try:
            response = yield from self.endpoint._serve(self).__await__()
        except BaseException as exc:
            self.outcome = type(exc).__name__
            raise
        finally:
            self.state = CallState.DONE
        self.outcome = "response"
        return response

    def close(self) -> None:
        """Drop the call unawaited."""
        if self.state is CallState.BOUND:
            self.state = CallState.CLOSED


@attrs.define(eq=False)
class EndpointHandle:
    """Scripts one `MockEndpoint`: its readiness, its answers, and what it saw.

    Readiness works in permits: each call consumes one, and the endpoint is ready while
    it has one. ``allow(None)`` (the default) means always ready.
    """

    permits: int | None = None
    """Calls the endpoint accepts before it is not ready; ``None`` for no limit."""
    failure: Exception | None = None
    """While set, readiness raises it: the endpoint has failed."""
    latency: float = 0.0
    """Seconds each call takes before it answers."""
    call_error: Exception | None = None
    """While set, each call raises it after ``latency`` (the endpoint's own error)."""
    respond: Callable[[Hashable, Any], Any] = lambda address, request: (address, request)
    """Makes the response from the endpoint's address and the request."""
    calls: list[MockCall] = attrs.field(factory=list)
    """Every call bound to the endpoint, in order."""
    ready_waits: int = 0
    """How many times ``ready()`` was awaited."""
    closed: bool = False
    """Whether ``aclose()`` was called."""
    on_call: Callable[[Any], None] | None = None
    """Called with each request as it is bound (say, to cancel its caller right then)."""
    evicted: bool = False
    """Set by a harness once the endpoint's removal was applied: binding to it breaches."""
    violations: list[str] = attrs.field(factory=list)
    """Contract breaches seen by the endpoint (each also raised as ``AssertionError``)."""
    _changed: trio.Event = attrs.field(factory=trio.Event)

    def allow(self, permits: int | None) -> None:
        """Accept ``permits`` more calls (``None``: any number); 0 makes it not ready."""
        self.permits = permits
        self._notify()

    def fail(self, error: Exception) -> None:
        """Make readiness raise ``error`` from now on (a failed endpoint)."""
        self.failure = error
        self._notify()

    def recover(self) -> None:
        """Undo `fail`."""
        self.failure = None
        self._notify()

    @property
    def in_flight(self) -> int:
        """Calls bound and not yet finished or closed."""
        return sum(c.state in (CallState.BOUND, CallState.RUNNING) for c in self.calls)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


@attrs.define(eq=False)
class MockEndpoint:
    """An endpoint for tests, scripted from ``handle``; see `EndpointHandle`.

    It checks the endpoint contract as it goes: a call bound while the endpoint is not
    ready (no permit, or failed) or after ``aclose()`` raises ``AssertionError`` in the
    pool that bound it. ``call()`` binds synchronously and returns a `MockCall`, so the
    moment of binding is recorded exactly.
    """

    address: Hashable
    target: Any
    handle: EndpointHandle = attrs.field(factory=EndpointHandle)

    def _check_ready(self) -> bool:
        handle = self.handle
        if handle.failure is not None:
            raise handle.failure
        return handle.permits is None or handle.permits > 0

    def ready_nowait(self) -> None:
        """Return if a call would be accepted now; ``trio.WouldBlock`` if not."""
        if not self._check_ready():
            raise trio.WouldBlock

    async def ready(self) -> None:
        """Return once a call would be accepted; raise the scripted failure."""
        self.handle.ready_waits += 1
        await trio.lowlevel.checkpoint()
        while not self._check_ready():
            await self.handle._changed.wait()

    def call(self, request: Any) -> MockCall:
        handle = self.handle
        if handle.closed:
            self._breach(f"request {request!r} bound to {self.address!r} after aclose()")
        if handle.failure is not None:
            self._breach(f"request {request!r} bound to {self.address!r}, which failed")
        if handle.permits is not None and handle.permits <= 0:
            self._breach(f"request {request!r} bound to {self.address!r}, which is not ready")
        if handle.evicted:
            self._breach(f"request {request!r} bound to {self.address!r} after its removal")
        if handle.permits is not None:
            handle.permits -= 1
        call = MockCall(self, request, trio.current_time())
        handle.calls.append(call)
        if handle.on_call is not None:
            handle.on_call(request)
        return call

    def _breach(self, violation: str) -> None:
        self.handle.violations.append(violation)
        raise AssertionError(violation)

    async def _serve(self, call: MockCall) -> Any:
        handle = self.handle
        await trio.sleep(handle.latency)
        if handle.call_error is not None:
            raise handle.call_error
        return handle.respond(self.address, call.request)

    async def aclose(self) -> None:
        if self.handle.closed:
            self._breach(f"endpoint {self.address!r} closed twice")
        self.handle.closed = True
        await trio.lowlevel.checkpoint()
