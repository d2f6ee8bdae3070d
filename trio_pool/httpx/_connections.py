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
connection's next write.

Two more flaws of the same kind, in httpcore's set-up of a new HTTP/2 connection, which
a cancellation of its first request (a hedge given up) cuts in the middle:

- the set-up takes all but one of the connection's stream permits, one ``await`` at a
  time: cut in between, the permits stay miscounted for good, the connection opens more
  streams than the server allows, and a later release fails with ``ValueError:
  semaphore released too many times``;
- cut while its preface is sent (or failing to send it, to a server that went away),
  the set-up closes the connection, and a second request already waiting on it then sets
  it up again, failing with h2's ``ProtocolError``, not an httpx error.

And two of httpcore's connections, which leave a socket to the garbage collector: a
connection counts as closed, and the pool drops it unclosed, once any request on it was
cancelled or failed before the connection was made, even while another request is
connecting it (the connection is then made, used, and never closed); and a request that
waited while the connecting failed connects it again.

This pool's HTTP/2 connections take a free permit without a checkpoint and send their
preface shielded from cancellation (a write, bounded by the request's write timeout: a
cancellation waits for the set-up, then takes effect). A connection being made is never
counted closed, idle or expired. A connection whose making or set-up failed refuses the
requests still waiting on it (``ConnectionNotAvailable``, httpcore's own way to say so),
which the pool sends to another connection.

All of it relies on private names of httpcore (and httpcore2, which has the same flaws and the
same names): if a version lacks them, the pool says so in a log line and runs as
httpcore's own, and the endpoint falls back on its own guard (a request that finds the
connection wedged fails the endpoint, which is made anew).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import trio

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


class _Permits:
    """httpcore's stream semaphore of one connection, whose ``acquire`` takes a free
    permit without a checkpoint (see the module documentation); the rest is its own."""

    def __init__(self, semaphore: Any) -> None:
        self._semaphore = semaphore

    async def acquire(self) -> None:
        semaphore = self._semaphore
        if not getattr(semaphore, "_backend", "x"):
            semaphore.setup()  # what its own acquire() does first
        permits = getattr(semaphore, "_trio_semaphore", None)
        if permits is not None:
            try:
                permits.acquire_nowait()
            except trio.WouldBlock:
                pass
            else:
                return
        await semaphore.acquire()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._semaphore, name)


def _closed(state: Any) -> bool:
    """Whether an h2 connection state is closed for good."""
    import h2.connection  # noqa: PLC0415 - here, h2 is there: an HTTP/2 connection uses it

    return bool(state.state_machine.state is h2.connection.ConnectionState.CLOSED)


def _mended(kind: type[Any]) -> type[Any]:
    """``kind`` (httpcore's HTTP/2 connection), resetting each stream it forgets, taking
    free permits at once, and sending its preface whatever cancels its first request."""

    class Mended(kind):  # type: ignore[misc]
        async def _response_closed(self, stream_id: int) -> None:
            # Synchronous up to httpcore's own step: nothing can slip in between.
            _reset(self, stream_id)
            await super()._response_closed(stream_id)

        async def _send_connection_init(self, request: Any) -> None:
            if _closed(self._h2_state):
                # Its set-up failed already (its preface could not be sent), and closed
                # it: the requests that waited for the set-up go to another connection.
                raise httpcore.ConnectionNotAvailable()
            with trio.CancelScope(shield=True):
                await super()._send_connection_init(request)

        @property
        def _max_streams_semaphore(self) -> Any:
            return self.__dict__["_max_streams_semaphore"]

        @_max_streams_semaphore.setter
        def _max_streams_semaphore(self, semaphore: Any) -> None:
            self.__dict__["_max_streams_semaphore"] = _Permits(semaphore)

    Mended.__name__ = Mended.__qualname__ = f"Mended{kind.__name__}"
    return Mended


_MENDED = None if _HTTP2 is None else _mended(_HTTP2)


class _Connection(httpcore.AsyncHTTPConnection):
    """httpcore's connection, whose protocol connection is mended if it is HTTP/2 (see
    `_mended`; httpcore sets ``_connection`` once the protocol is negotiated), and which
    connects at most once (see the module documentation)."""

    _connecting = False
    """Whether a request is making the connection now."""

    async def _connect(self, request: Any) -> Any:
        if self._connect_failed:
            raise httpcore.ConnectionNotAvailable()
        self._connecting = True
        try:
            return await super()._connect(request)
        finally:
            # Made or not; if made, httpcore holds it before any checkpoint.
            self._connecting = False

    def is_closed(self) -> bool:
        return not self._connecting and bool(super().is_closed())

    def has_expired(self) -> bool:
        return not self._connecting and bool(super().has_expired())

    def is_idle(self) -> bool:
        return not self._connecting and bool(super().is_idle())

    @property
    def _connection(self) -> Any:
        return self.__dict__["_connection"]

    @_connection.setter
    def _connection(self, connection: Any) -> None:
        if _MENDED is not None and type(connection) is _HTTP2:
            # The same object, made by httpcore's own constructor, with the fixes.
            connection.__class__ = _MENDED
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
