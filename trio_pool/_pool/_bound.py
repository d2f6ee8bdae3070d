"""`BoundCall`: a request bound to an endpoint, whose accounting ends exactly once."""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

__all__ = ["BoundCall", "CallOutcome"]

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
        try:
            self._close_coroutine()
        finally:
            self._done(CallOutcome.DROPPED)

    def _close_coroutine(self) -> None:
        """Close the awaitable unawaited, if it has a ``close()``; log its error."""
        close = getattr(self._coroutine, "close", None)
        if close is None:
            return
        try:
            close()
        except Exception as exc:
            logger.warning("closing the unawaited call %r failed: %r", self._coroutine, exc)

    def _done(self, outcome: CallOutcome) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(outcome)
