"""`ReleasingStream`: a response body that ends what the response holds when closed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import attrs

from ._flavour import httpx

__all__ = ["ReleasingStream", "release_when_closed"]


@attrs.define(eq=False, slots=True)
class ReleasingStream(httpx.AsyncByteStream):
    """Wraps a response body so that closing it runs ``on_close``, exactly once.

    Iteration goes straight to the wrapped stream, with no extra hop per chunk.
    ``aclose()`` closes the wrapped stream, then runs ``on_close`` (and what `also`
    added) even if that raised or was cancelled. httpx closes a response's stream when
    the body has been read, when reading it failed, and when ``response.aclose()`` (or
    the end of a ``client.stream(...)`` block) closes it early.
    """

    _stream: httpx.AsyncByteStream
    _on_close: Callable[[], None] | None
    _then: Callable[[], None] | None = None

    def also(self, on_close: Callable[[], None]) -> bool:
        """Run ``on_close`` too, after the first, when the stream closes: one wrapper for
        both layers that wait for the close (the endpoint's, the transport's), so a close
        takes one hop less. Returns ``False`` if it cannot (closed already, or taken)."""
        if self._on_close is None or self._then is not None:
            return False
        self._then = on_close
        return True

    def __aiter__(self) -> AsyncIterator[bytes]:
        return aiter(self._stream)

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            on_close, self._on_close = self._on_close, None
            then, self._then = self._then, None
            try:
                if on_close is not None:
                    on_close()
            finally:
                if then is not None:
                    then()


def release_when_closed(response: httpx.Response, on_close: Callable[[], None]) -> None:
    """Run ``on_close`` once ``response`` is closed: when its body is closed, or now if it
    is closed already (a response built from ``content=``, which httpx reads and closes
    as it is made, is never closed again)."""
    if response.is_closed:
        on_close()
        return
    stream = response.stream
    if isinstance(stream, ReleasingStream) and stream.also(on_close):
        return
    assert isinstance(stream, httpx.AsyncByteStream)
    response.stream = ReleasingStream(stream, on_close)
