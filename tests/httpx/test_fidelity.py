"""The balanced transport behaves like httpx's own where users lean on it: URLs, timeouts,
errors, server names; and says what to do when it is misused."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing

import trio_pool
from trio_pool import PendingRequests, Reset, Update

from ..support.http_servers import Backend, open_backends
from ._flavour import (
    Authority,
    BalancerConnectError,
    BalancerError,
    BalancerFailFastError,
    BalancerPoolTimeout,
    NewEndpoint,
    httpx,
    open_balanced_transport,
)
from ._helpers import Pools, Resolver, static


def dead_address() -> tuple[str, int]:
    """A loopback address where nothing listens (a port just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return ("127.0.0.1", port)


async def nothing() -> AsyncIterator[Update]:
    """Discovery that knows no endpoint."""
    yield Reset([])
    await trio.sleep_forever()


# -- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://", "missing an 'http://' or 'https://' protocol"),
        ("://example.org", "missing an 'http://' or 'https://' protocol"),
        ("invalid://example.org", "unsupported protocol 'invalid://'"),
    ],
)
async def test_an_invalid_url_is_an_unsupported_protocol_before_any_resolve(
    url: str, words: str
) -> None:
    resolver = Resolver({})
    async with (
        open_balanced_transport(resolver) as transport,
        httpx.AsyncClient(transport=transport) as client,
    ):
        with pytest.raises(httpx.UnsupportedProtocol, match=words) as caught:
            await client.get(url)
        assert caught.value.request.url == client.build_request("GET", url).url
        assert resolver.calls == [], "resolve is never asked about an invalid URL"
        assert transport.statistics().authorities == ()


# -- the wait for an endpoint ---------------------------------------------------------------


async def test_the_pool_timeout_bounds_the_wait_for_an_endpoint(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_balanced_transport({"api.test:80": nothing()}, failfast_timeout=3) as transport,
        httpx.AsyncClient(transport=transport, timeout=0.5) as client,
    ):
        start = trio.current_time()
        with pytest.raises(BalancerPoolTimeout) as caught:
            await client.get("http://api.test/")
        assert trio.current_time() - start == 0.5, "the request's pool timeout, not failfast's"
        assert isinstance(caught.value, httpx.PoolTimeout)
        assert isinstance(caught.value, trio_pool.PoolError)
        assert str(caught.value) == (
            "no endpoint of http://api.test:80 was ready within the request's pool timeout "
            "of 0.5 s: the pool has no endpoints"
        )
        assert isinstance(caught.value.__cause__, trio_pool.DispatchTimeoutError)
        assert not transport.statistics().authorities[0].queue.is_failfast, (  # type: ignore[union-attr]
            "one request's timeout leaves the balancer alone"
        )


async def test_no_pool_timeout_waits_for_failfast(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        open_balanced_transport({"api.test:80": nothing()}, failfast_timeout=3) as transport,
        httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(0.5, pool=None)) as client,
    ):
        start = trio.current_time()
        with pytest.raises(BalancerFailFastError):
            await client.get("http://api.test/")
        assert trio.current_time() - start == 3


async def test_a_pool_timeout_of_zero_takes_a_ready_endpoint_and_waits_for_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [a.address]})
        async with (
            open_balanced_transport(resolver) as transport,
            httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5, pool=0)) as client,
        ):
            assert (await client.get("http://api.test/")).text == "a"
    async with (
        open_balanced_transport({"api.test:80": nothing()}) as transport,
        httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5, pool=0)) as client,
    ):
        start = trio.current_time()
        with pytest.raises(httpx.PoolTimeout):
            await client.get("http://api.test/")
        assert trio.current_time() - start < 0.001


async def test_endpoints_that_refuse_connections_give_a_connect_error_at_once() -> None:
    # Real sockets, a real clock: both addresses refuse connections.
    pools = Pools(load=PendingRequests())
    resolver = Resolver({"api.test:80": [dead_address(), dead_address()]})
    async with (
        open_balanced_transport(resolver, new_pool=pools) as transport,
        httpx.AsyncClient(transport=transport) as client,
    ):
        # The request tries both (a connect failure is retried on another endpoint); then
        # no endpoint is left to try, and the last real error is the caller's.
        started = trio.current_time()
        with trio.fail_after(5), pytest.raises(httpx.ConnectError) as caught:
            await client.get("http://api.test/")
        assert trio.current_time() - started < 1.0, "no failfast wait"
        assert not isinstance(caught.value, BalancerError), "httpx's own, from the socket"
        assert "all attempts to connect to 127.0.0.1:" in str(caught.value)
        # Both endpoints failed their latest attempt: the next request has them tried
        # again at once, and fails with what the OS said.
        started = trio.current_time()
        with trio.fail_after(5), pytest.raises(httpx.ConnectError) as caught:
            await client.get("http://api.test/")
        assert trio.current_time() - started < 1.0
        error = caught.value
        assert isinstance(error, BalancerConnectError)
        assert not isinstance(error, httpx.ConnectTimeout)
        message = str(error)
        assert "Connection refused" in message, message
        assert "every endpoint of http://api.test:80 failed its latest connection attempt" in (
            message
        )
        assert "2 endpoints (0 ready, " in message
        assert isinstance(error.__cause__, ConnectionRefusedError), "the OS's error"
        assert error.request.url == "http://api.test/"
        (statistics,) = transport.statistics().authorities
        assert statistics.queue is not None
        assert not statistics.queue.is_failfast


async def test_with_wait_for_ready_a_request_waits_for_an_endpoint_then_fails_fast() -> None:
    pools = Pools(load=PendingRequests())
    resolver = Resolver({"api.test:80": [dead_address(), dead_address()]})
    async with (
        open_balanced_transport(
            resolver, failfast_timeout=0.3, new_pool=pools, wait_for_ready=True
        ) as transport,
        httpx.AsyncClient(transport=transport) as client,
    ):
        # The request tries both (a connect failure is retried on another endpoint):
        # the caller gets the last real error.
        with trio.fail_after(5), pytest.raises(httpx.ConnectError) as caught:
            await client.get("http://api.test/")
        assert not isinstance(caught.value, BalancerError), "httpx's own, from the socket"
        # The next one waits for an endpoint to come back, in vain, and the gate shuts.
        started = trio.current_time()
        with trio.fail_after(5), pytest.raises(httpx.ConnectError) as caught:
            await client.get("http://api.test/")
        assert trio.current_time() - started >= 0.3, "the failfast wait"
        error = caught.value
        assert isinstance(error, BalancerFailFastError)
        message = str(error)
        assert message.startswith("no endpoint of http://api.test:80 could be reached: ")
        assert "2 endpoints (0 ready, " in message
        assert "backing off" in message
        assert "last endpoint error: " in message
        assert isinstance(error.__cause__, trio_pool.FailFastError), "the original"
        assert isinstance(error.__cause__.__cause__, Exception), "the last endpoint error"
        assert error.request.url == "http://api.test/"
        (statistics,) = transport.statistics().authorities
        assert statistics.queue is not None
        assert statistics.queue.is_failfast
        # The gate is shut: the next request fails at once.
        with trio.fail_after(0.1), pytest.raises(BalancerFailFastError):
            await client.get("http://api.test/")


# -- messages that say what to do -----------------------------------------------------------


async def test_passing_the_context_manager_itself_says_use_async_with() -> None:
    opener = open_balanced_transport({"api.test:80": nothing()})
    client = httpx.AsyncClient(transport=opener)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"async with open_balanced_transport\(\.\.\.\) as"):
        await client.get("http://api.test/")
    await client.aclose()


async def test_the_context_manager_inside_async_with_a_client_says_so_too() -> None:
    opener = open_balanced_transport({"api.test:80": nothing()})
    async with httpx.AsyncClient(transport=opener) as client:  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="gives an async context manager, not a transport"):
            await client.get("http://api.test/")


async def test_a_context_manager_is_entered_once() -> None:
    opener = open_balanced_transport({})
    async with opener:
        with pytest.raises(RuntimeError, match="entered once"):
            async with opener:
                pass


def test_under_asyncio_it_says_that_trio_pool_runs_under_trio() -> None:
    async def main() -> None:
        async with open_balanced_transport({}):
            pytest.fail("the block must not run")

    with pytest.raises(RuntimeError, match=r"runs under Trio, and this code runs under asyncio"):
        asyncio.run(main())


async def test_bad_arguments_raise_at_the_call() -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        open_balanced_transport({}, idle_timeout=0)


# -- proxies --------------------------------------------------------------------------------


async def test_a_client_whose_proxy_takes_every_request_is_refused() -> None:
    async with open_balanced_transport({}) as transport:
        client = httpx.AsyncClient(transport=transport, proxy="http://127.0.0.1:9")
        with pytest.raises(ValueError, match=r"through a proxy .* does not support proxies"):
            async with client:
                pytest.fail("the block must not run")

        scheme_wide = httpx.AsyncClient(
            mounts={"all://": transport, "https://": httpx.AsyncHTTPTransport(proxy="http://p:1")}
        )
        with pytest.raises(ValueError, match=r"every https:// request"):
            async with scheme_wide:
                pytest.fail("the block must not run")


async def test_a_proxy_for_other_hosts_is_fine() -> None:
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [a.address]})
        async with open_balanced_transport(resolver) as transport:
            mounts: dict[str, Any] = {
                "http://api.test": transport,
                "all://": httpx.AsyncHTTPTransport(proxy="http://127.0.0.1:9"),
            }
            async with httpx.AsyncClient(mounts=mounts) as client:
                assert (await client.get("http://api.test/")).text == "a"


async def test_proxy_environment_variables_are_bypassed_as_documented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As with any transport passed to httpx: the balanced transport dials the endpoints.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    async with (
        open_backends(Backend("a")) as (a,),
        open_balanced_transport(Resolver({"api.test:80": [a.address]})) as transport,
        httpx.AsyncClient(transport=transport) as client,
    ):
        assert (await client.get("http://api.test/")).text == "a"


# -- statistics -----------------------------------------------------------------------------


async def test_statistics_show_each_authoritys_queue_and_endpoints() -> None:
    dead = dead_address()
    async with open_backends(Backend("a"), Backend("b")) as (a, b):
        resolver = Resolver(
            {
                "http://api.test:80": [a.address, b.address],
                "https://api.test:443": [dead],
                "other.test:8080": [a.address],
            }
        )
        async with (
            open_balanced_transport(resolver, failfast_timeout=0.2, connect_retries=0) as transport,
            httpx.AsyncClient(transport=transport) as client,
        ):
            async with client.stream("GET", "http://api.test/?chunks=2") as streamed:
                await client.get("http://other.test:8080/")
                with pytest.raises(httpx.ConnectError):
                    await client.get("https://api.test/")
                statistics = transport.statistics()
                assert [a.authority for a in statistics.authorities] == [
                    Authority("http", "api.test"),
                    Authority("https", "api.test"),
                    Authority("http", "other.test", 8080),
                ]
                assert statistics.active == 1, "the open stream"
                plain = statistics.get("http://api.test:80")
                assert plain is not None
                assert plain is statistics.get("api.test:80")
                assert plain.active == 1
                assert plain.queue is not None
                assert plain.queue.pending == 0
                assert plain.pool is not None
                assert plain.pool.endpoints == 2
                assert plain.pool.in_flight == 1
                by_address = {e.address: e for e in plain.endpoints}
                assert set(by_address) == {a.address, b.address}
                holder = a if streamed.headers["x-backend"] == "a" else b
                assert by_address[holder.address].in_flight == 1
                assert by_address[holder.address].load > 0
                assert all(e.state is trio_pool.EndpointState.READY for e in plain.endpoints)

                tls = statistics.get(Authority("https", "api.test"))
                assert tls is not None
                # Its failure is learnt from its request, and acted on when it is next
                # picked: its state may still read ready.
                assert [e.address for e in tls.endpoints] == [dead]
                assert statistics.get("nowhere.test:80") is None
                table = statistics.authorities
                assert table["api.test:443"] is tls
                assert table[Authority("http", "api.test")] is plain
                assert table[0] is plain
                assert table.find("other.test:8080") is not None
                assert table.find("nowhere.test:80") is None
                assert table.__contains__("http://other.test:8080"), "`in` looks up too"
                assert plain in table
                with pytest.raises(KeyError):
                    table["nowhere.test:80"]
                await streamed.aread()
            assert transport.statistics().active == 0


async def test_statistics_of_a_pool_without_statistics() -> None:
    class Bare:
        """A pool with only the protocol's methods."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            if name in {"statistics", "endpoint_statistics"}:
                raise AttributeError(name)
            return getattr(self._inner, name)

    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [a.address]})
        async with (
            open_balanced_transport(resolver, new_pool=lambda new: Bare(Pools()(new))) as t,
            httpx.AsyncClient(transport=t) as client,
        ):
            await client.get("http://api.test/")
            (statistics,) = t.statistics().authorities
            assert statistics.pool is None
            assert statistics.endpoints == ()
            assert statistics.queue is not None


# -- discovery streams ----------------------------------------------------------------------


async def test_one_one_shot_stream_cannot_feed_two_authorities(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # http://api.test:8080 and https://api.test:8080 share the key "api.test:8080".
    async with (
        open_balanced_transport({"api.test:8080": static([])}, failfast_timeout=1) as transport,
        httpx.AsyncClient(transport=transport) as client,
    ):
        with pytest.raises(BalancerFailFastError):
            await client.get("http://api.test:8080/")
        with pytest.raises(TypeError, match="one-shot stream that already feeds"):
            await client.get("https://api.test:8080/")


async def test_responses_closed_as_they_are_made_end_their_accounting() -> None:
    # Endpoints whose connection pool answers with responses built from content=
    # (a MockTransport, say): nothing stays counted once the request is done.
    made: list[trio_pool.P2CPool[Any, Any, Any, Any]] = []

    def over_mock(new_endpoint: NewEndpoint) -> trio_pool.P2CPool[Any, Any, Any, Any]:
        def make(address: Any, target: Any) -> Any:
            endpoint = new_endpoint(address, target)
            endpoint._transport = httpx.MockTransport(lambda r: httpx.Response(200, text="m"))
            return endpoint

        made.append(trio_pool.P2CPool(make))
        return made[-1]

    async with (
        open_balanced_transport(
            Resolver({"api.test:80": [("10.0.0.1", 80)]}), new_pool=over_mock
        ) as t,
        httpx.AsyncClient(transport=t) as client,
    ):
        for _ in range(3):
            assert (await client.get("http://api.test/")).text == "m"
        assert t.statistics().active == 0
        assert made[0].statistics().in_flight == 0
