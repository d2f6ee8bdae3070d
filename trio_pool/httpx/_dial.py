"""`Dialer`: httpcore's network backend for one endpoint, which dials its address.

The request that goes down to httpcore keeps the URL its caller wrote, so the inner
transport, mocks, event hooks, logs and ``trace`` see the logical name. Only the TCP
connection is made to the endpoint: httpcore asks its network backend to connect to the
URL's host and port, and this backend connects to the endpoint's address instead. TLS
(the server name, the certificate check) and the ``Host`` header stay the logical
name's, as httpcore takes them from the URL; connection errors name the address dialed.

A connection whose TLS handshake is cancelled midway (a hedge that lost, a caller that
left) is closed here: httpcore's Trio backend closes it on an error only, and a
cancelled one would be left to the garbage collector, socket open.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import trio

from ._flavour import httpcore

__all__ = ["Dialer"]


class Dialer(httpcore.AsyncNetworkBackend):
    """Connects every TCP connection to ``host``:``port``, over httpcore's Trio backend."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._backend = httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        stream = await self._backend.connect_tcp(
            self._host, self._port, timeout, local_address, socket_options
        )
        return _Plain(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        return await self._backend.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _Plain(httpcore.AsyncNetworkStream):
    """A new connection, before its TLS handshake: closed if the handshake is cancelled.
    Once TLS is up, httpcore holds the TLS stream itself, with no hop through this."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        data: bytes = await self._stream.read(max_bytes, timeout)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> Any:
        try:
            return await self._stream.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            # An error closed it already; a cancellation did not.
            with trio.CancelScope(shield=True):
                await self._stream.aclose()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
