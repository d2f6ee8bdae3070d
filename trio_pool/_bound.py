"""`BoundCall`: a request bound to an endpoint, whose accounting ends exactly once."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

__all__ = ["BoundCall"]

Rsp = TypeVar("Rsp")


class BoundCall(Generic[Rsp]):
    """An awaitable that runs ``on_done`` exactly once, however the call ends.

    A pool counts a request against its endpoint when it binds it (so the very next pick
    already sees the load) and must stop counting it whatever happens next: the call
    returns, raises, is cancelled, or is never awaited at all because its caller left.
    Awaiting runs ``coroutine``; ``close()`` drops it unawaited. Either way ``on_done``
    runs once.
    """

    __slots__ = ("_coroutine", "_on_done")

    def __init__(self, coroutine: Coroutine[Any, Any, Rsp], on_done: Callable[[], None]) -> None:
        self._coroutine = coroutine
        self._on_done: Callable[[], None] | None = on_done

    def __await__(self) -> Generator[Any, None, Rsp]:
        try:
            return (yield from self._coroutine.__await__())
        finally:
            self._done()

    def close(self) -> None:
        """Drop the call unawaited, ending its accounting."""
        self._coroutine.close()
        self._done()

    def _done(self) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done()
