"""A small HTTP/1.1 server on Trio and h11, for the demo's backends and its /metrics page.

It serves keep-alive connections, one request at a time per connection, and answers
each with what ``handler(method, target)`` returns. It is enough for a demo on loopback,
not a server for the open internet (no timeouts on slow clients, no request size limit
beyond what h11 enforces).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import NoReturn

import attrs
import h11
import trio

__all__ = ["Handler", "Reply", "listening_port", "open_http_listeners", "serve_http"]

_MAX_RECEIVE = 65536


@attrs.frozen
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[str, str], Awaitable[Reply]]


async def open_http_listeners(
    port: int = 0, *, host: str = "127.0.0.1"
) -> list[trio.SocketListener]:
    """Listen on ``host:port`` (0: a free port); raises ``OSError`` as the socket does."""
    return await trio.open_tcp_listeners(port, host=host)


def listening_port(listeners: list[trio.SocketListener]) -> int:
    """The port that ``listeners`` listen on."""
    port: int = listeners[0].socket.getsockname()[1]
    return port


async def serve_http(
    handler: Handler,
    *,
    listeners: list[trio.SocketListener] | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve ``handler`` until cancelled, on ``listeners`` or on a free port of 127.0.0.1.

    ``task_status`` gets the port. The listeners are closed when it ends.
    """
    if listeners is None:
        listeners = await open_http_listeners()
    task_status.started(listening_port(listeners))
    await trio.serve_listeners(partial(_serve_connection, handler), listeners)
    raise AssertionError("unreachable: serve_listeners() returned")


async def _serve_connection(handler: Handler, stream: trio.SocketStream) -> None:
    connection = h11.Connection(h11.SERVER)
    try:
        while True:
            request = await _next_request(connection, stream)
            if request is None:
                return
            reply = await handler(request.method.decode(), request.target.decode())
            headers = [
                ("content-type", reply.content_type),
                ("content-length", str(len(reply.body))),
                *reply.headers,
            ]
            data = connection.send(h11.Response(status_code=reply.status, headers=headers))
            data += connection.send(h11.Data(data=reply.body)) or b""
            data += connection.send(h11.EndOfMessage()) or b""
            await stream.send_all(data or b"")
            if connection.our_state is h11.MUST_CLOSE:
                return
            connection.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        return  # the client went away or spoke nonsense: drop the connection
    finally:
        await stream.aclose()


async def _next_request(
    connection: h11.Connection, stream: trio.SocketStream
) -> h11.Request | None:
    """Read one whole request (its body is read and dropped); None once the client closes."""
    request: h11.Request | None = None
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await stream.receive_some(_MAX_RECEIVE))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            return request
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None
