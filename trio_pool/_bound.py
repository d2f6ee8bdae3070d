"""`BoundCall`: a request bound to an endpoint, whose accounting ends exactly once.

`Lease`: what lets a call's accounting outlive the call, for a response that still holds
its endpoint after it is returned (an HTTP response whose body is read later).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

__all__ = ["BoundCall", "CallOutcome", "Lease"]

logger = logging.getLogger("trio_pool.pool")

Rsp = TypeVar("Rsp")


class CallOutcome(enum.Enum):
    """How a bound call ended, as its ``on_done`` callback is told."""

    OK = "ok"
    """The endpoint returned a response."""
    FAILED = "failed"
    """The endpoint raised an ``Exception``."""
    CANCELLED = "cancelled"
    """The caller was cancelled (or another ``BaseException`` went through) mid-call."""
    DROPPED = "dropped"
    """The call was closed without ever being awaited: its caller left first."""


class BoundCall(Generic[Rsp]):
    """An awaitable that reports, exactly once, how the call ended.

    A pool counts a request against its endpoint when it binds it (so the very next pick
    already sees the load) and must stop counting it whatever happens next: the call
    returns, raises, is cancelled, or is never awaited at all because its caller left.
    Awaiting runs ``coroutine`` (any awaitable); ``close()`` drops it unawaited, closing
    it if it has a ``close()``. Either way ``on_done``
    runs once, with the `CallOutcome`.
    """

    __slots__ = ("_coroutine", "_on_done")

    def __init__(
        self,
        coroutine: Awaitable[Rsp],
        on_done: Callable[[CallOutcome], None],
    ) -> None:
        self._coroutine = coroutine
        self._on_done: Callable[[CallOutcome], None] | None = on_done

    def __await__(self) -> Generator[Any, None, Rsp]:
        try:
            response = yield from self._coroutine.__await__()
        except Exception:
            self._done(CallOutcome.FAILED)
            raise
        except BaseException:
            self._done(CallOutcome.CANCELLED)
            raise
        self._done(CallOutcome.OK)
        return response

    def close(self) -> None:
        """Drop the call unawaited, ending its accounting.

        An error from the wrapped awaitable's own ``close()`` is logged, not raised: the
        caller that dropped the call is usually on its way out with an error of its own.
        """
        if self._on_done is None:
            return
        close = getattr(self._coroutine, "close", None)
        try:
            if close is not None:
                close()
        except Exception as exc:
            logger.warning("closing the unawaited call %r failed: %r", self._coroutine, exc)
        finally:
            self._done(CallOutcome.DROPPED)

    def _done(self, outcome: CallOutcome) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(outcome)


class Lease:
    """Keeps a call counted against its endpoint after the call returned, until released.

    A pool passes a fresh lease to an endpoint that has the optional method
    ``call_leased(request, lease)`` instead of calling ``call(request)``; the endpoint
    ties ``release()`` to whatever still holds it once the call has returned, say the
    close of a response body that is read after the call returned its headers.

    The call's accounting (its count against the endpoint's load, the pool's calls in
    flight, the close of an evicted endpoint, which waits for its calls) then ends once
    the call has returned *and* the lease is released, whichever comes last. The load
    is still measured to the call's return. If the call raises, is cancelled or is
    dropped unawaited, its accounting ends there, and a later ``release()`` does nothing.

    ``release()`` is synchronous and idempotent. A lease that is never released keeps
    its call counted, and its endpoint open, for as long as the pool lives.
    """

    __slots__ = ("_on_release", "_released", "failed")

    def __init__(self) -> None:
        self._released = False
        self._on_release: Callable[[], None] | None = None
        self.failed = False
        """Set by the endpoint when the call returned an answer that is a failure all
        the same (an HTTP 5xx): the load counts it as a failed call."""

    @property
    def released(self) -> bool:
        """Whether ``release()`` was called."""
        return self._released

    def release(self) -> None:
        """End the leased call's accounting (once its call has returned); idempotent."""
        if self._released:
            return
        self._released = True
        on_release, self._on_release = self._on_release, None
        if on_release is not None:
            on_release()

    def when_released(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the lease is released, at once if it is already.

        For pools: called once, when the leased call has returned.
        """
        if self._on_release is not None:
            raise RuntimeError("a lease takes one release callback")
        if self._released:
            callback()
        else:
            self._on_release = callback
