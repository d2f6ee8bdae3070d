"""Real HTTP servers on loopback, steered by the test: hypercorn's Trio worker over a small app.

Each `Backend` answers every request with its name, after its ``latency``, with its
``status`` (and ``Retry-After``, if set). A request may ask, in its query string, for a
streamed body (``?chunks=N&chunk_delay=S``), a body of ``N`` bytes (``?size=N``) or a
delay of its own (``?delay=S``). The
backend records the ``Host`` header and the client's address of every request, and can
be killed mid-test: its listener and its connections close at once.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import attrs
import hypercorn.config
import hypercorn.trio
import trio
import trustme


@attrs.frozen
class Seen:
    """One request as the backend saw it."""

    host: str
    """The ``Host`` header (or HTTP/2 ``:authority``)."""
    client: tuple[str, int]
    """The client's address: one port per connection."""
    http_version: str
    body_length: int


@attrs.define(eq=False)
class Backend:
    """One loopback server; change its fields mid-test to change how it answers."""

    name: str
    latency: float = 0.0
    status: int = 200
    retry_after: str | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    """Further response headers (a ``location`` for a redirect, say)."""
    seen: list[Seen] = attrs.field(factory=list)
    port: int = 0
    _scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def requests(self) -> int:
        return len(self.seen)

    def kill(self) -> None:
        """Close the listener and every connection, mid-request or not."""
        self._scope.cancel()

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        assert scope["type"] == "http", f"unexpected ASGI scope {scope['type']!r}"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        host = headers.get("host", headers.get(":authority", ""))
        client = scope["client"]
        self.seen.append(Seen(host, (client[0], client[1]), scope["http_version"], len(body)))
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        await trio.sleep(self.latency + float(query.get("delay", 0)))
        response_headers = [(b"x-backend", self.name.encode())]
        if self.retry_after is not None:
            response_headers.append((b"retry-after", self.retry_after.encode()))
        response_headers += [(k.encode(), v.encode()) for k, v in self.headers.items()]
        await send(
            {"type": "http.response.start", "status": self.status, "headers": response_headers}
        )
        chunks = int(query.get("chunks", 0))
        if "size" in query:
            await send({"type": "http.response.body", "body": b"x" * int(query["size"])})
            return
        if not chunks:
            await send({"type": "http.response.body", "body": self.name.encode()})
            return
        for i in range(chunks):
            if i:
                await trio.sleep(float(query.get("chunk_delay", 0)))
            await send({"type": "http.response.body", "body": b"chunk\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def run(
        self, config: hypercorn.config.Config, *, task_status: trio.TaskStatus[None]
    ) -> None:
        with self._scope:
            async with trio.open_nursery() as nursery:
                binds: list[str] = await nursery.start(hypercorn.trio.serve, self.app, config)
                self.port = int(binds[0].rsplit(":", 1)[1])
                task_status.started()


async def lifespan(receive: Any, send: Any) -> None:
    """Answer an ASGI server's lifespan messages until it shuts down."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def server_config(
    certificate: Path | None = None, port: int = 0, max_streams: int | None = None
) -> hypercorn.config.Config:
    config = hypercorn.config.Config()
    config.bind = [f"127.0.0.1:{port}"]
    if max_streams is not None:
        config.h2_max_concurrent_streams = max_streams
    config.loglevel = "WARNING"
    config.accesslog = None
    # Tests that drive a MockClock jump far ahead: idle connections must not time out.
    config.keep_alive_timeout = math.inf
    if certificate is not None:
        config.certfile = config.keyfile = str(certificate)
    return config


@asynccontextmanager
async def open_backends(
    *backends: Backend, certificate: Path | None = None, max_streams: int | None = None
) -> AsyncIterator[tuple[Backend, ...]]:
    """Serve ``backends`` on loopback ports for the duration of the block: each on its
    ``port``, or a free one if it is 0; ``max_streams`` is the HTTP/2
    ``MAX_CONCURRENT_STREAMS`` they announce."""
    async with trio.open_nursery() as nursery:
        for backend in backends:
            config = server_config(certificate, backend.port, max_streams)
            await nursery.start(backend.run, config)
        yield backends
        nursery.cancel_scope.cancel()


def write_certificate(ca: trustme.CA, directory: Path, *names: str) -> Path:
    """A server certificate from ``ca`` for ``names``, key and chain in one PEM file."""
    path = directory / f"{'-'.join(names)}.pem"
    ca.issue_cert(*names).private_key_and_cert_chain_pem.write_to_path(str(path))
    return path
