"""A scripted HTTP server on loopback for the client differential suite, and a socket count.

The server is hypercorn's Trio worker over a small ASGI app (the pattern of
``tests/support/http_servers.py``). Each route, ``(method, path)``, answers its requests
with a script of `Reply`: the first request gets the first reply, and so on; the last
reply answers every request after it. Every request is counted, per route, when the app
receives it (before any delay), so a request that times out on the client still counts.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import hypercorn.trio
import trio

from ..support.http_servers import lifespan, server_config

Route = tuple[str, str]
"""``(method, path)``, say ``("POST", "/v1/chat/completions")``."""


@attrs.frozen
class Reply:
    """One scripted answer."""

    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    delay: float = 0.0
    """Seconds to wait before the response headers."""
    chunks: Sequence[bytes] = ()
    """Body parts sent one by one after ``body`` (so the body is chunked)."""
    chunk_delay: float = 0.0
    break_off: bool = False
    """Stop after ``chunks`` without ending the body: hypercorn then closes the
    connection, so the client sees a body cut off mid-way (an incomplete chunked read)."""


@attrs.define(eq=False)
class ScriptedServer:
    routes: dict[Route, list[Reply]]
    hits: Counter[Route] = attrs.field(factory=Counter)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        assert scope["type"] == "http", f"unexpected ASGI scope {scope['type']!r}"
        while True:
            message = await receive()
            if not message.get("more_body", False):
                break
        route = (scope["method"], scope["path"])
        index = self.hits[route]
        self.hits[route] += 1
        script = self.routes.get(route)
        if not script:
            reply = Reply(404, {"content-type": "text/plain"}, b"no such route")
        else:
            reply = script[min(index, len(script) - 1)]
        if reply.delay:
            await trio.sleep(reply.delay)
        headers = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if not reply.chunks:
            await send({"type": "http.response.body", "body": reply.body})
            return
        if reply.body:
            await send({"type": "http.response.body", "body": reply.body, "more_body": True})
        for i, chunk in enumerate(reply.chunks):
            if i and reply.chunk_delay:
                await trio.sleep(reply.chunk_delay)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if reply.break_off:
            return  # the body never ends: hypercorn closes the connection
        await send({"type": "http.response.body", "body": b""})


@asynccontextmanager
async def serve(routes: Mapping[Route, Sequence[Reply]]) -> AsyncIterator[ScriptedServer]:
    """Serve ``routes`` on a free loopback port for the duration of the block."""
    server = ScriptedServer({route: list(script) for route, script in routes.items()})
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(hypercorn.trio.serve, server.app, server_config())
        server.port = int(binds[0].rsplit(":", 1)[1])
        yield server
        nursery.cancel_scope.cancel()


# -- sockets ----------------------------------------------------------------------------

_ESTABLISHED = "01"


def _own_socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (the listdir's own fd, say)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def client_sockets(server_port: int, states: frozenset[str] = frozenset({_ESTABLISHED})) -> int:
    """This process's TCP sockets (IPv4) in ``states`` (ESTABLISHED by default) whose
    remote port is ``server_port``: the client side of connections to that server. The
    server's own side, local port == ``server_port``, is left out; so are sockets of
    other processes (only inodes this process holds a descriptor for count)."""
    own = _own_socket_inodes()
    count = 0
    with open("/proc/self/net/tcp") as table:
        next(table)  # the header line
        for line in table:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            local_port = int(local.rsplit(":", 1)[1], 16)
            remote_port = int(remote.rsplit(":", 1)[1], 16)
            if (
                state in states
                and remote_port == server_port
                and local_port != server_port
                and inode in own
            ):
                count += 1
    return count
