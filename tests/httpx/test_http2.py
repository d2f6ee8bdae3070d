"""HTTP/2 through the balanced transport: requests cancelled on purpose (a hedge that loses
its race) or by their caller, and responses closed unread, never wedge a connection.

httpcore forgets such a stream without resetting it, and after the server's
``MAX_CONCURRENT_STREAMS`` of them the connection refuses every request
(``LocalProtocolError: Max outbound streams``). These servers announce 10 streams, so a
dozen losses would wedge a connection; each test loses more. Real sockets over TLS, a
real clock.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme

from trio_pool import Add, Hedging, Remove, Reset, RoundRobinPool, Update

from ..support.http_servers import Backend, open_backends, write_certificate
from ._flavour import BalancedTransport, _connections, httpx, open_balanced_transport
from ._helpers import static

STREAMS = 10
LOSSES = 3 * STREAMS

pytestmark = pytest.mark.skipif(
    not _connections.resets_streams(), reason="this httpcore has no hook"
)


@pytest.fixture
def certificate(ca: trustme.CA, tmp_path: Path) -> Path:
    return write_certificate(ca, tmp_path, "api.test")


async def discovery(
    updates: trio.MemoryReceiveChannel[Update],
) -> AsyncIterator[Update]:
    async for update in updates:
        yield update


@asynccontextmanager
async def h2_client(
    updates: AsyncIterator[Update], trusting: ssl.SSLContext, **options: Any
) -> AsyncIterator[tuple[BalancedTransport, httpx.AsyncClient]]:
    """A client over HTTP/2 to ``api.test`` through the balanced transport."""
    async with (
        open_balanced_transport(
            {"api.test:443": updates}, verify=trusting, http2=True, **options
        ) as transport,
        httpx.AsyncClient(transport=transport) as client,
    ):
        yield transport, client


def connections(backend: Backend) -> int:
    """The connections a backend was reached on."""
    return len({seen.client for seen in backend.seen})


async def test_cancelled_requests_leave_no_stream_open(
    certificate: Path, trusting: ssl.SSLContext
) -> None:
    server = Backend("a")
    async with (
        open_backends(server, certificate=certificate, max_streams=STREAMS),
        h2_client(static([server.address]), trusting) as (_, client),
    ):
        # The connection first: httpcore's own set-up of an HTTP/2 connection breaks if
        # cancelled midway (its stream count is left wrong), which no reset can mend.
        await _expect_ok(client, "https://api.test/")
        for _ in range(LOSSES):
            with trio.move_on_after(0.05):
                await client.get("https://api.test/?delay=5")
        # Concurrent requests, more than the stream limit: each waits for a stream of the
        # one connection, none fails.
        async with trio.open_nursery() as nursery:
            for _ in range(2 * STREAMS):
                nursery.start_soon(_expect_ok, client, "https://api.test/")
        assert connections(server) == 1, "the same connection, never wedged"
        assert server.seen[-1].http_version == "2"


async def test_responses_closed_unread_give_their_window_back(
    certificate: Path, trusting: ssl.SSLContext
) -> None:
    server = Backend("a")
    async with (
        open_backends(server, certificate=certificate, max_streams=STREAMS),
        h2_client(static([server.address]), trusting) as (_, client),
    ):
        for _ in range(LOSSES):
            async with client.stream("GET", "https://api.test/?size=1000000") as response:
                assert response.status_code == 200
                # Left unread: closed with most of its body on its way.
        with trio.fail_after(5):
            response = await client.get("https://api.test/?size=1000000")
        assert len(response.content) == 1_000_000
        assert connections(server) == 1


async def test_hedges_that_lose_do_not_wedge_the_slow_endpoint(
    certificate: Path, trusting: ssl.SSLContext
) -> None:
    slow, fast = Backend("slow", latency=2.0), Backend("fast")
    send, receive = trio.open_memory_channel[Update](math.inf)
    async with open_backends(slow, fast, certificate=certificate, max_streams=STREAMS):
        send.send_nowait(Reset([(slow.address, None), (fast.address, None)]))
        async with h2_client(
            discovery(receive),
            trusting,
            hedging=Hedging(delay=0.05, max_attempts=2),
            # Load-blind: half the first copies go to the slow endpoint.
            new_pool=RoundRobinPool,
        ) as (_, client):
            async with trio.open_nursery() as nursery:
                for _ in range(3 * LOSSES):
                    nursery.start_soon(_expect_ok, client, "https://api.test/")
                    await trio.sleep(0.01)
            lost = slow.requests
            assert lost > STREAMS, f"hedges won over the slow endpoint {lost} times"
            send.send_nowait(Remove([fast.address]))
            await trio.sleep(0.05)
            with trio.fail_after(10):
                response = await client.get("https://api.test/")
            assert response.text == "slow", "the slow endpoint still answers"
            assert connections(slow) == 1


async def test_a_wedged_connection_fails_its_endpoint_which_is_made_anew(
    monkeypatch: pytest.MonkeyPatch, certificate: Path, trusting: ssl.SSLContext
) -> None:
    # Without the reset (an httpcore without the hook), the guard: the request that
    # finds the connection wedged goes to another endpoint, and the endpoint is made
    # anew with fresh connections.

    monkeypatch.setattr(_connections, "_HTTP2", None)
    a, b = Backend("a"), Backend("b")
    send, receive = trio.open_memory_channel[Update](math.inf)
    async with open_backends(a, b, certificate=certificate, max_streams=STREAMS):
        send.send_nowait(Reset([(a.address, None)]))
        async with h2_client(
            discovery(receive),
            trusting,
            new_pool=RoundRobinPool,  # takes a back as soon as it is ready
        ) as (transport, client):
            for _ in range(STREAMS):  # a's one connection is wedged now
                with trio.move_on_after(0.05):
                    await client.get("https://api.test/?delay=5")
            send.send_nowait(Add([(b.address, None)]))
            await trio.sleep(0.05)
            for _ in range(2 * STREAMS):
                await _expect_ok(client, "https://api.test/")
            await trio.sleep(1.0)  # a's backoff: it is made anew
            answered = {(await client.get("https://api.test/")).text for _ in range(20)}
            assert answered == {"a", "b"}, "a is back, on a fresh connection"
            assert connections(a) == 2
            endpoints = transport.statistics().authorities["api.test:443"].endpoints
            assert [e.failures for e in endpoints] == [0, 0]


async def _expect_ok(client: httpx.AsyncClient, url: str) -> None:
    with trio.fail_after(10):
        response = await client.get(url)
    assert response.status_code == 200
