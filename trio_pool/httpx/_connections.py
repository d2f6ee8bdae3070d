"""`ConnectionPool`: httpcore's connection pool, whose HTTP/2 connections reset the
streams their callers abandon.

httpcore forgets an HTTP/2 stream whose request was cancelled, or whose response was
closed before its end, without telling the server (no ``RST_STREAM``) and without
giving back the flow-control window of the data it had not read: h2 goes on counting
the stream open (httpcore's issues 943 and 1022; its pull request 1098 proposes the
reset). After the server's ``MAX_CONCURRENT_STREAMS`` such losses, every request on
that connection fails with ``LocalProtocolError: Max outbound streams is 100, 100
open``, and the pool keeps handing the connection out, since it still looks idle. Plain
httpx wedges so when its users cancel requests; the balanced transport cancels on
purpose (a hedge that loses its race), so it must not.

httpcore forgets a stream in one place, ``AsyncHTTP2Connection._response_closed``, on
every way out: an answer read to its end, an error, a cancellation, an early close.
Each HTTP/2 connection of this pool, and only those, has that step reset the stream
first if h2 still counts it open, acknowledging the data it had received and not read,
as h2 itself would for a stream the application closes. The reset goes out with the
connection's next write. It relies on those private names of httpcore (and httpcore2,
which has the same bug and the same names): if a version lacks them, the pool says so
in a log line and runs as httpcore's own, and the endpoint falls back on its own guard
(a request that finds the connection wedged fails the endpoint, which is made anew).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ._flavour import httpcore

__all__ = ["ConnectionPool", "resets_streams"]

logger = logging.getLogger("trio_pool.httpx")


def _http2_connection_class() -> type[Any] | None:
    """httpcore's HTTP/2 connection class, if it has the private step this module hooks."""
    try:
        module = importlib.import_module(f"{httpcore.__name__}._async.http2")
    except ImportError:  # h2 is not installed: no HTTP/2 at all, nothing to reset
        return None
    kind = getattr(module, "AsyncHTTP2Connection", None)
    if kind is None or not callable(getattr(kind, "_response_closed", None)):
        return None
    return kind  # type: ignore[no-any-return]


_HTTP2 = _http2_connection_class()


def resets_streams() -> bool:
    """Whether this version of httpcore lets the pool reset abandoned HTTP/2 streams."""
    return _HTTP2 is not None


def _reset(connection: Any, stream_id: int) -> None:
    """Reset ``stream_id`` on ``connection`` if h2 still counts it open, giving back the
    window of the data received for it and not read."""
    import h2.errors  # noqa: PLC0415 - here, h2 is there: an HTTP/2 connection uses it
    import h2.events  # noqa: PLC0415
    import h2.exceptions  # noqa: PLC0415

    state = connection._h2_state
    stream = state.streams.get(stream_id)
    if stream is None or not stream.open:
        return  # answered to its end, or reset already
    try:
        for event in connection._events.get(stream_id, ()):
            if isinstance(event, h2.events.DataReceived) and event.flow_controlled_length:
                state.acknowledge_received_data(event.flow_controlled_length, stream_id)
        state.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
    except h2.exceptions.ProtocolError:
        pass  # the connection is closed or closing: nothing counts any more


def _resetting(connection: Any) -> None:
    """Make ``connection`` (an HTTP/2 one) reset each stream as httpcore forgets it."""
    forget: Callable[[int], Awaitable[None]] = connection._response_closed

    async def response_closed(stream_id: int) -> None:
        # Synchronous up to httpcore's own step: nothing can slip in between.
        _reset(connection, stream_id)
        await forget(stream_id)

    connection._response_closed = response_closed


class _Connection(httpcore.AsyncHTTPConnection):
    """httpcore's connection, whose protocol connection resets abandoned streams if it
    is HTTP/2. httpcore sets ``_connection`` once the protocol is negotiated."""

    @property
    def _connection(self) -> Any:
        return self.__dict__["_connection"]

    @_connection.setter
    def _connection(self, connection: Any) -> None:
        if _HTTP2 is not None and isinstance(connection, _HTTP2):
            _resetting(connection)
        self.__dict__["_connection"] = connection


class ConnectionPool(httpcore.AsyncConnectionPool):
    """An ``httpcore.AsyncConnectionPool`` whose HTTP/2 connections reset the streams
    their callers abandon (see the module documentation)."""

    def create_connection(self, origin: Any) -> Any:
        connection = super().create_connection(origin)
        if _HTTP2 is not None and type(connection) is httpcore.AsyncHTTPConnection:
            # The same object, with the hook: httpcore's own constructor made it.
            connection.__class__ = _Connection
        return connection


if _HTTP2 is None:
    logger.info(
        "%s has no AsyncHTTP2Connection._response_closed: HTTP/2 streams that callers "
        "abandon are not reset (a connection wedged by them fails its endpoint instead)",
        httpcore.__name__,
    )
