"""Never worse than httpx: one host behind one address, through httpx's own transport and
through the balanced one, side by side against the same loopback server.

Each test runs the same steps twice, once per transport, and checks that the caller sees
the same thing: the server's answers, httpx's own exception types, the number of
requests the server got, about the same time. Real sockets, a real clock.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
import respx
import trio

from trio_pool import EndpointState

from ..support.http_servers import Backend, open_backends
from ._flavour import NAME, Authority, BalancedTransport, httpx, open_balanced_transport
from ._helpers import static

TRANSPORTS = ["httpx", "balanced"]
via = pytest.mark.parametrize("kind", TRANSPORTS)


def itself(authority: Authority) -> AsyncIterator[Any]:
    """Discovery of one address: the authority's own host and port, as DNS would say."""
    return static([(authority.host, authority.port)])


@asynccontextmanager
async def open_client(
    kind: str, resolve: Any = itself, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client over httpx's own transport, or over a balanced one."""
    if kind == "httpx":
        async with httpx.AsyncClient(**options) as client:
            yield client
        return
    async with (
        open_balanced_transport(resolve) as transport,
        httpx.AsyncClient(transport=transport, **options) as client,
    ):
        yield client


def balanced(client: httpx.AsyncClient) -> BalancedTransport:
    transport = client._transport
    assert isinstance(transport, BalancedTransport)
    return transport


def refused_address() -> tuple[str, int]:
    """A loopback port where nothing listens (just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return ("127.0.0.1", port)


@contextmanager
def unanswered_address() -> Iterator[tuple[str, int]]:
    """A loopback port whose listener never accepts and whose queue is full: a new
    connection's SYN is dropped, so connecting hangs until its timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    try:
        for _ in range(2):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(address)
            fillers.append(filler)
        yield ("127.0.0.1", address[1])
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def chain(error: BaseException) -> str:
    """Every message in ``error``'s chain of causes, contexts and groups."""
    words: list[str] = []
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        words.append(str(current))
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            pending += current.exceptions
    return " | ".join(words)


# -- the server misbehaves a little -----------------------------------------------------------


@via
async def test_five_500s_then_the_sixth_request_gets_the_recovered_answer(kind: str) -> None:
    server = Backend("a", status=500)
    async with open_backends(server), open_client(kind) as client:
        url = f"http://127.0.0.1:{server.port}/"
        statuses = [(await client.get(url)).status_code for _ in range(5)]
        server.status = 200
        started = trio.current_time()
        recovered = await client.get(url)
        assert trio.current_time() - started < 1.0
        assert statuses == [500] * 5
        assert recovered.status_code == 200, "the only endpoint is called, ejected or not"
        assert server.requests == 6
        if kind == "balanced":
            (authority,) = balanced(client).statistics().authorities
            assert authority.pool is not None
            assert (authority.pool.ejected, authority.pool.panic) == (1, True)
            (endpoint,) = authority.endpoints
            assert endpoint.state is EndpointState.EJECTED, "statistics tell the truth"
            assert endpoint.call_failures == 0, "the last call succeeded"
            assert "500 Internal Server Error" in str(endpoint.last_call_error)


@via
async def test_a_429_with_retry_after_does_not_park_the_only_endpoint(kind: str) -> None:
    server = Backend("a", status=429, retry_after="5")
    async with open_backends(server), open_client(kind) as client:
        url = f"http://127.0.0.1:{server.port}/"
        started = trio.current_time()
        throttled = await client.get(url)
        server.status, server.retry_after = 200, None
        statuses: list[int] = []
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(lambda: _get_status(client, url, statuses))
        assert trio.current_time() - started < 1.0
        assert throttled.status_code == 429, "the caller gets the 429 itself"
        assert throttled.headers["retry-after"] == "5"
        assert statuses == [200] * 4
        assert server.requests == 5
        if kind == "balanced":
            (authority,) = balanced(client).statistics().authorities
            (endpoint,) = authority.endpoints
            assert endpoint.penalised_until is not None, "weighed down, and says so"
            assert endpoint.state is EndpointState.READY


async def _get_status(client: httpx.AsyncClient, url: str, statuses: list[int]) -> None:
    statuses.append((await client.get(url)).status_code)


@via
@pytest.mark.parametrize("status", [429, 503])
async def test_a_get_asked_to_retry_after_a_while_gets_that_answer_at_once(
    kind: str, status: int
) -> None:
    server = Backend("a", status=status, retry_after="2")
    async with open_backends(server), open_client(kind) as client:
        started = trio.current_time()
        response = await client.get(f"http://127.0.0.1:{server.port}/")
        assert trio.current_time() - started < 0.5, "no retry to wait for: one endpoint"
        assert response.status_code == status
        assert server.requests == 1


@via
async def test_a_get_that_always_gets_503_is_sent_once(kind: str) -> None:
    server = Backend("a", status=503)
    async with open_backends(server), open_client(kind) as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/")
        assert response.status_code == 503
        assert response.text == "a"
        assert server.requests == 1, "no retry to the endpoint that just answered"


# -- the server cannot be reached -------------------------------------------------------------


@via
@pytest.mark.parametrize("seconds", [5.0, 0.5], ids=["default-timeout", "short-timeout"])
async def test_a_refused_connection_is_a_connect_error_at_once(kind: str, seconds: float) -> None:
    host, port = refused_address()
    async with open_client(kind, timeout=seconds) as client:
        for attempt in range(3):
            started = trio.current_time()
            with pytest.raises(httpx.ConnectError) as caught:
                await client.get(f"http://{host}:{port}/")
            assert trio.current_time() - started < 0.25, f"attempt {attempt}: at once"
            assert not isinstance(caught.value, httpx.TimeoutException)
            assert "Connection refused" in chain(caught.value), chain(caught.value)
            assert caught.value.request.url == f"http://{host}:{port}/"


@via
async def test_a_server_that_comes_back_takes_the_next_request(kind: str) -> None:
    server = Backend("a")
    async with open_client(kind) as client:
        async with open_backends(server):
            url = f"http://127.0.0.1:{server.port}/"
            assert (await client.get(url)).status_code == 200
        with pytest.raises(httpx.ConnectError):
            await client.get(url)
        with pytest.raises(httpx.ConnectError):
            await client.get(url)
        back = Backend("a", port=server.port)  # the same address, restarted
        async with open_backends(back):
            started = trio.current_time()
            assert (await client.get(url)).status_code == 200, "no backoff keeps it away"
            assert trio.current_time() - started < 0.5


@via
async def test_a_connect_timeout_is_a_connect_timeout_within_the_connect_timeout(
    kind: str,
) -> None:
    with unanswered_address() as (host, port):
        async with open_client(kind, timeout=0.3) as client:
            for attempt in range(2):
                started = trio.current_time()
                with pytest.raises(httpx.ConnectTimeout):
                    await client.get(f"http://{host}:{port}/")
                waited = trio.current_time() - started
                assert 0.25 <= waited < 0.9, f"attempt {attempt}: {waited:.2f} s"


# -- what a user's tools see -------------------------------------------------------------------


@via
async def test_respx_routes_written_for_the_request_url_match(kind: str) -> None:
    if NAME != "httpx":
        pytest.skip("respx mocks httpx and httpcore, not httpx2")
    # The balanced transport dials 127.0.0.1:9 underneath; respx, at httpcore's level,
    # sees the URL the caller wrote.
    nowhere = lambda authority: static([("127.0.0.1", 9)])  # noqa: E731
    async with open_client(kind, resolve=nowhere) as client:
        with respx.mock(assert_all_called=True) as mock:
            route = mock.get("http://api.test:8080/users").respond(201, text="mocked")
            response = await client.get("http://api.test:8080/users")
            assert (response.status_code, response.text) == (201, "mocked")
            assert route.call_count == 1


async def test_trace_and_hooks_see_the_logical_url_and_the_endpoint_is_dialed() -> None:
    server = Backend("a")
    events: list[tuple[str, dict[str, Any]]] = []
    requested: list[httpx.URL] = []

    async def trace(name: str, info: dict[str, Any]) -> None:
        events.append((name, info))

    async def hook(request: httpx.Request) -> None:
        requested.append(request.url)

    async with open_backends(server):
        to_server = lambda authority: static([server.address])  # noqa: E731
        async with (
            open_balanced_transport(to_server) as transport,
            httpx.AsyncClient(transport=transport, event_hooks={"request": [hook]}) as client,
        ):
            response = await client.get("http://api.test/path", extensions={"trace": trace})
            stream = response.extensions["network_stream"]
            assert stream.get_extra_info("server_addr") == server.address, "dialed underneath"
        assert response.status_code == 200
        assert response.request.url == "http://api.test/path"
        assert requested == [httpx.URL("http://api.test/path")]
        (connect,) = [info for name, info in events if name == "connection.connect_tcp.started"]
        assert (connect["host"], connect["port"]) == ("api.test", 80), "the logical origin"
        assert server.seen[0].host == "api.test"
