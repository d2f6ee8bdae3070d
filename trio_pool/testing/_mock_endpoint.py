"""`MockEndpoint`: an endpoint whose readiness and answers a test scripts from its handle."""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator, Hashable
from typing import Any

import attrs
import trio

__all__ = ["CallState", "EndpointHandle", "EndpointKind", "MockCall", "MockEndpoint"]


class EndpointKind(enum.Enum):
    """Which of the endpoint protocol's shapes a `MockEndpoint` takes.

    A pool must serve each of them correctly; the extension only makes things faster.
    """

    NOWAIT = "nowait"
    """With the optional ``ready_nowait()``, besides ``ready()``."""
    PLAIN = "plain"
    """Only ``ready()``, ``call()`` and ``aclose()``; ``ready()`` checkpoints first, as
    Trio functions do."""
    INSTANT = "instant"
    """Only ``ready()``, ``call()`` and ``aclose()``; ``ready()`` returns without a
    checkpoint when the endpoint is ready."""


class CallState(enum.Enum):
    BOUND = "bound"
    RUNNING = "running"
    DONE = "done"
    CLOSED = "closed"
    REJECTED = "rejected"
    """``call()`` raised at once (the handle's ``reject``): there is nothing to await."""


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

    kind: EndpointKind = EndpointKind.NOWAIT
    """Its shape: whether it offers ``ready_nowait()``, whether ``ready()`` checkpoints."""
    permits: int | None = None
    """Calls the endpoint accepts before it is not ready; ``None`` for no limit."""
    failure: Exception | None = None
    """While set, readiness raises it: the endpoint has failed."""
    latency: float = 0.0
    """Seconds each call takes before it answers."""
    call_error: Exception | None = None
    """While set, each call raises it after ``latency`` (the endpoint's own error)."""
    reject: Exception | None = None
    """While set, ``call()`` itself raises it at once, before any awaitable exists."""
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
    armed: bool = False
    """Whether readiness was signalled (``ready()`` returned, or ``ready_nowait()`` did)
    since the last call was bound: what a pool must see before it binds one."""
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

    It offers ``ready_nowait()`` only if its handle's ``kind`` is `EndpointKind.NOWAIT`.
    It checks the endpoint contract as it goes: a call bound without a readiness signal
    since the previous one (``ready()`` returned, or ``ready_nowait()`` did), after
    ``aclose()``, or after the harness marked it evicted raises ``AssertionError`` in the
    pool that bound it. ``call()`` binds synchronously and returns a `MockCall`, so the
    moment of binding is recorded exactly.
    """

    address: Hashable
    target: Any
    handle: EndpointHandle = attrs.field(factory=EndpointHandle)

    def __getattr__(self, name: str) -> Any:
        # ready_nowait exists only on endpoints of that kind: pools look for it with
        # hasattr, as they would on any endpoint.
        if name == "ready_nowait" and self.handle.kind is EndpointKind.NOWAIT:
            return self._ready_nowait
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _check_ready(self) -> bool:
        handle = self.handle
        if handle.failure is not None:
            raise handle.failure
        return handle.permits is None or handle.permits > 0

    def _ready_nowait(self) -> None:
        """Return if a call would be accepted now; ``trio.WouldBlock`` if not."""
        if not self._check_ready():
            raise trio.WouldBlock
        self.handle.armed = True

    async def ready(self) -> None:
        """Return once a call would be accepted; raise the scripted failure."""
        handle = self.handle
        handle.ready_waits += 1
        if handle.kind is not EndpointKind.INSTANT or not self._check_ready():
            await trio.lowlevel.checkpoint()
            while not self._check_ready():
                await handle._changed.wait()
        handle.armed = True

    def call(self, request: Any) -> MockCall:
        handle = self.handle
        if handle.closed:
            self._breach(f"request {request!r} bound to {self.address!r} after aclose()")
        if handle.evicted:
            self._breach(f"request {request!r} bound to {self.address!r} after its removal")
        if not handle.armed:
            self._breach(
                f"request {request!r} bound to {self.address!r} without a readiness "
                "signal since the previous call (ready() or ready_nowait())"
            )
        handle.armed = False
        call = MockCall(self, request, trio.current_time())
        handle.calls.append(call)
        if handle.reject is not None:
            call.state = CallState.REJECTED
            raise handle.reject
        if handle.permits is not None:
            handle.permits -= 1
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
