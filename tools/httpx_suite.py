"""A pytest plugin that runs httpx's own test suite on Trio, with the balanced transport as
``httpx.AsyncClient``'s default transport; or httpx2's, with `trio_pool.httpx2`'s
(``TRIO_POOL_HTTPX_SUITE_LIBRARY=httpx2``).

``nox -s httpx_suite`` (``httpx2_suite``) runs the library's tests twice, with this plugin
in each mode (``TRIO_POOL_HTTPX_SUITE``):

- ``plain``: httpx's own default transport, only counted, so the two runs compare;
- ``balanced``: every ``AsyncClient`` made without ``transport=`` gets a balanced
  transport instead, with the options the client was given (``verify``, ``cert``,
  ``trust_env``, ``http1``, ``http2``, ``limits``), whose ``resolve`` gives each
  authority the one endpoint its URL names, so it dials what httpx would dial.

Both run on Trio only (the tests that anyio would run on asyncio are deselected):
trio-pool runs under Trio. At the end, a line says how many tests sent a request
through ``AsyncClient``'s default transport, the only tests whose outcome the
substitution can change.

A balanced transport needs a nursery; an ``AsyncClient`` is made anywhere, so the stand-in
opens its transport on first use in a Trio system task, and closes it when the client
closes (``aclose()``), or when the Trio run ends.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Generator
from typing import Any

import pytest
import trio

import trio_pool

LIBRARY = os.environ.get("TRIO_POOL_HTTPX_SUITE_LIBRARY", "httpx")
if LIBRARY not in {"httpx", "httpx2"}:
    raise RuntimeError(f"TRIO_POOL_HTTPX_SUITE_LIBRARY must be httpx or httpx2, got {LIBRARY!r}")
if LIBRARY == "httpx":
    import httpx

    from trio_pool.httpx import Authority, BalancedTransport, open_balanced_transport
else:
    # The same names over httpx2: its suite calls httpx2, and the balanced transport
    # must be its flavour's (type checkers follow the httpx branch).
    import httpx2 as httpx  # type: ignore[no-redef]

    from trio_pool.httpx2 import (  # type: ignore[no-redef]
        Authority,
        BalancedTransport,
        open_balanced_transport,
    )

MODE = os.environ.get("TRIO_POOL_HTTPX_SUITE", "balanced")
if MODE not in {"balanced", "plain"}:
    raise RuntimeError(f"TRIO_POOL_HTTPX_SUITE must be 'balanced' or 'plain', got {MODE!r}")

_reached: set[str] = set()
_current: list[str] = [""]


def _record() -> None:
    if _current[0]:
        _reached.add(_current[0])


async def _the_url_itself(authority: Authority) -> AsyncIterator[trio_pool.Update]:
    # Discovery that knows one endpoint: the host and port the URL names.
    yield trio_pool.Reset([((authority.host, authority.port), None)])
    await trio.sleep_forever()


class BalancedDefault(httpx.AsyncBaseTransport):
    """What ``AsyncClient`` gets instead of its ``AsyncHTTPTransport``."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool,
        cert: Any,
        trust_env: bool,
        http1: bool,
        http2: bool,
        limits: httpx.Limits,
    ) -> None:
        # Built now, as httpx's own transport builds it: its warnings and errors for a
        # bad verify= or cert= come at the same moment.
        self._context = httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
        self._options: dict[str, Any] = {"http1": http1, "http2": http2, "limits": limits}
        self._transport: BalancedTransport | None = None
        self._opened: trio.Event | None = None
        self._close = trio.Event()
        self._closed = trio.Event()

    async def _open(self) -> BalancedTransport:
        if self._opened is None:
            self._opened = trio.Event()
            trio.lowlevel.spawn_system_task(self._run, name="httpx suite: balanced transport")
        await self._opened.wait()
        assert self._transport is not None
        return self._transport

    async def _run(self) -> None:
        assert self._opened is not None
        try:
            async with open_balanced_transport(
                _the_url_itself, verify=self._context, **self._options
            ) as transport:
                self._transport = transport
                self._opened.set()
                await self._close.wait()
        finally:
            self._closed.set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _record()
        transport = self._transport or await self._open()
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        self._close.set()
        if self._opened is not None:
            await self._closed.wait()


class CountedDefault(httpx.AsyncHTTPTransport):
    """httpx's own transport, counting the tests that reach it."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _record()
        return await super().handle_async_request(request)


_original_init_transport = httpx.AsyncClient._init_transport


def _init_transport(
    self: httpx.AsyncClient,
    verify: Any = True,
    cert: Any = None,
    trust_env: bool = True,
    http1: bool = True,
    http2: bool = False,
    limits: httpx.Limits = httpx._config.DEFAULT_LIMITS,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncBaseTransport:
    if transport is not None:
        return transport
    options = {
        "verify": verify,
        "cert": cert,
        "trust_env": trust_env,
        "http1": http1,
        "http2": http2,
        "limits": limits,
    }
    if MODE == "plain":
        return CountedDefault(**options)
    return BalancedDefault(**options)


def pytest_configure(config: pytest.Config) -> None:
    httpx.AsyncClient._init_transport = _init_transport  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    httpx.AsyncClient._init_transport = _original_init_transport  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Trio only (trio-pool runs under Trio): deselect the tests anyio runs on asyncio."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("anyio_backend", "trio") if callspec is not None else "trio"
        name = backend if isinstance(backend, str) else backend[0]
        (kept if name == "trio" else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None]:
    _current[0] = item.nodeid
    try:
        return (yield)
    finally:
        _current[0] = ""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        f"{LIBRARY} suite ({MODE} transport as AsyncClient's default, Trio): "
        f"{len(_reached)} tests sent requests through AsyncClient's default transport"
    )
