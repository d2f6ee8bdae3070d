"""`Dialer`: httpcore's network backend for one endpoint, which dials its address.

The request that goes down to httpcore keeps the URL its caller wrote, so the inner
transport, mocks, event hooks, logs and ``trace`` see the logical name. Only the TCP
connection is made to the endpoint: httpcore asks its network backend to connect to the
URL's host and port, and this backend connects to the endpoint's address instead. TLS
(the server name, the certificate check) and the ``Host`` header stay the logical
name's, as httpcore takes them from the URL; connection errors name the address dialed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
        return await self._backend.connect_tcp(
            self._host, self._port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        return await self._backend.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
