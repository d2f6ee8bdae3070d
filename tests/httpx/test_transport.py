"""The balanced httpx transport against real HTTP servers on loopback."""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import trio_pool
from trio_pool import DoesNotExist, PendingRequests, Reset, Update

from ..support.http_servers import Backend, open_backends
from ._flavour import (
    Authority,
    BalancedTransport,
    BalancerClosedError,
    BalancerFailFastError,
    UnknownAuthorityError,
    httpx,
    open_balanced_transport,
)
from ._helpers import Pools, Resolver, static


@asynccontextmanager
async def open_client(
    resolve: Any, **options: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, BalancedTransport]]:
    options.setdefault("failfast_timeout", 2.0)
    async with (
        open_balanced_transport(resolve, **options) as transport,
        httpx.AsyncClient(transport=transport) as client,
    ):
        yield client, transport


def authorities(transport: BalancedTransport) -> list[str]:
    """``str()`` of each authority that has a balancer now."""
    return [str(a.authority) for a in transport.statistics().authorities]


def dead_address() -> tuple[str, int]:
    """A loopback address where nothing listens (a port just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return ("127.0.0.1", port)


async def test_balances_by_latency_keeping_the_logical_host() -> None:
    pools = Pools()
    fast_a, fast_b, slow = Backend("a"), Backend("b"), Backend("slow", latency=0.4)
    async with open_backends(fast_a, fast_b, slow) as backends:
        resolver = Resolver({"api.test:80": [b.address for b in backends]})
        async with open_client(resolver, new_pool=pools) as (client, transport):

            async def worker() -> None:
                for _ in range(15):
                    response = await client.get("http://api.test/users")
                    assert response.status_code == 200
                    assert response.text == response.headers["x-backend"]

            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(worker)
            assert authorities(transport) == ["api.test:80"]
    assert resolver.calls == [Authority("http", "api.test")], "one balancer, resolved once"
    assert sum(b.requests for b in backends) == 60
    assert slow.requests <= 8, f"Peak-EWMA keeps the slow backend mostly idle: {slow.requests}"
    assert fast_a.requests > 10, "both fast backends take load"
    assert fast_b.requests > 10, "both fast backends take load"
    hosts = {seen.host for backend in backends for seen in backend.seen}
    assert hosts == {"api.test"}, "the Host header stays the logical authority"
    assert pools.in_flight == 0


async def test_the_authority_includes_a_port_the_url_names() -> None:
    async with open_backends(Backend("a"), Backend("b")) as (a, b):
        resolver = Resolver({"api.test:80": [a.address], "api.test:8080": [b.address]})
        async with open_client(resolver) as (client, _):
            assert (await client.get("http://api.test/")).text == "a"
            assert (await client.get("http://api.test:80/")).text == "a", "the default port"
            assert (await client.get("http://api.test:080/")).text == "a", "the same port"
            assert (await client.get("http://api.test:8080/")).text == "b"
    assert resolver.calls == [
        Authority("http", "api.test", 80),
        Authority("http", "api.test", 8080),
    ]
    assert [seen.host for seen in b.seen] == ["api.test:8080"]


async def test_a_mapping_resolves_and_bodies_are_sent() -> None:
    async with open_backends(Backend("a")) as (a,):
        discovery: Update = trio_pool.Add([(a.address, {"zone": "z1"})])

        async def stream() -> AsyncIterator[Update]:
            yield discovery
            await trio.sleep_forever()

        async with open_client({"api.test:80": stream()}) as (client, _):
            response = await client.post("http://api.test/upload", content=b"x" * 5000)
            assert response.status_code == 200
    assert a.seen[0].body_length == 5000


async def test_a_connection_is_never_shared_between_logical_names() -> None:
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [a.address], "other.test:80": [a.address]})
        async with open_client(resolver) as (client, _):
            for _ in range(3):
                await client.get("http://api.test/")
                await client.get("http://other.test/")
    clients = {
        name: {seen.client for seen in a.seen if seen.host == name}
        for name in ("api.test", "other.test")
    }
    assert len(clients["api.test"]) == 1, "requests for one name reuse their connection"
    assert len(clients["other.test"]) == 1
    assert clients["api.test"].isdisjoint(clients["other.test"]), "one connection per name"


async def test_a_killed_backend_loses_its_requests_to_the_others() -> None:
    pools = Pools()
    victim = Backend("victim", latency=0.005)
    survivors = Backend("a", latency=0.005), Backend("b", latency=0.005)
    outcomes: list[str] = []
    async with open_backends(victim, *survivors) as backends:
        resolver = Resolver({"api.test:80": [b.address for b in backends]})
        async with open_client(resolver, new_pool=pools) as (client, _):

            async def worker() -> None:
                for _ in range(25):
                    try:
                        response = await client.get("http://api.test/")
                    except httpx.TransportError as exc:
                        outcomes.append(type(exc).__name__)
                    else:
                        outcomes.append(response.headers["x-backend"])
                    if len(outcomes) == 30:
                        victim.kill()

            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    for _ in range(4):
                        nursery.start_soon(worker)
            assert pools.in_flight == 0
    assert len(outcomes) == 100, "every request ended: none hangs"
    errors = [o for o in outcomes if o not in {"victim", "a", "b"}]
    assert len(errors) <= 4, f"only requests in flight on the victim fail: {errors}"
    assert 0 < victim.requests < 40
    assert set(outcomes[-40:]) <= {"a", "b"}, "once it is gone, requests go to the others"


async def test_an_address_that_refuses_connections_backs_off() -> None:
    # Equal loads, so that the picker tries the dead address early.
    pools = Pools(load=PendingRequests())
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [dead_address(), a.address]})
        async with open_client(resolver, new_pool=pools) as (client, _):
            for _ in range(20):
                response = await client.get("http://api.test/")
                assert response.text == "a", "a request that cannot connect tries another"
            (pool,) = pools.made
            assert pool.statistics().ready == 1, "the dead address is out of the ready set"
            assert pool.statistics().pending + pool.statistics().backing_off == 1


async def test_a_connect_error_surfaces_when_no_retry_is_left() -> None:
    resolver = Resolver({"api.test:80": [dead_address()]})
    async with open_client(resolver, connect_retries=0) as (client, _):
        with pytest.raises(httpx.ConnectError):
            await client.get("http://api.test/")


async def test_retry_after_takes_a_backend_out_until_then(
    mock_clock: trio.testing.MockClock,
) -> None:
    pools = Pools()
    busy = Backend("busy", status=503, retry_after="30")
    async with open_backends(busy, Backend("a"), Backend("b")) as backends:
        resolver = Resolver({"api.test:80": [b.address for b in backends]})
        async with open_client(resolver, new_pool=pools) as (client, _):
            statuses = [(await client.get("http://api.test/")).status_code for _ in range(30)]
            assert statuses.count(503) == 1, "the 503 itself reaches the caller"
            assert busy.requests == 1, "then the busy backend gets nothing for 30 s"

            busy.status, busy.retry_after = 200, None
            mock_clock.jump(31)
            await trio.testing.wait_all_tasks_blocked()
            for _ in range(30):
                await client.get("http://api.test/")
            assert busy.requests > 1, "after Retry-After it is back in rotation"


@pytest.mark.parametrize(
    ("failure_statuses", "failing_share"),
    [(range(500, 600), (1, 2)), ((), (10, 40))],
    ids=["5xx-count-as-failures", "every-answer-alike"],
)
async def test_fast_server_errors_do_not_draw_traffic(
    failure_statuses: Any, failing_share: tuple[int, int]
) -> None:
    failing = Backend("failing", status=500)
    healthy = Backend("healthy", latency=0.005)
    async with open_backends(failing, healthy) as backends:
        resolver = Resolver({"api.test:80": [b.address for b in backends]})
        async with open_client(resolver, failure_statuses=failure_statuses) as (client, _):
            for _ in range(40):
                await client.get("http://api.test/")
    # Counted as failures, the 500s cost the load's failure penalty (1 s): after its
    # first one, the failing backend is left alone. Counted as answers, it keeps a good
    # share of the traffic, if not most: it answers fast.
    low, high = failing_share
    assert low <= failing.requests <= high, (failing.requests, healthy.requests)


async def test_a_streamed_body_counts_in_flight_until_closed() -> None:
    pools = Pools(load=PendingRequests())
    async with open_backends(Backend("a"), Backend("b")) as backends:
        resolver = Resolver({"api.test:80": [b.address for b in backends]})
        async with open_client(resolver, new_pool=pools) as (client, transport):
            async with client.stream("GET", "http://api.test/?chunks=3") as streamed:
                assert pools.in_flight == 1, "headers are in, the body is not: still in flight"
                assert transport.statistics().active == 1
                holder = streamed.headers["x-backend"]
                others = {(await client.get("http://api.test/")).text for _ in range(5)}
                assert others == {"a", "b"} - {holder}, "the open stream counts as load"
                assert await streamed.aread() == b"chunk\n" * 3
            assert pools.in_flight == 0
            assert transport.statistics().active == 0

            async with client.stream("GET", "http://api.test/?chunks=3&chunk_delay=30") as early:
                assert early.status_code == 200
                assert pools.in_flight == 1
            assert pools.in_flight == 0, "leaving with the body unread closes it: accounting ends"


async def test_a_cancelled_request_leaves_no_accounting() -> None:
    pools = Pools()
    async with open_backends(Backend("a", latency=30)) as (a,):
        resolver = Resolver({"api.test:80": [a.address]})
        async with open_client(resolver, new_pool=pools) as (client, transport):
            with trio.move_on_after(0.1) as waiting:
                await client.get("http://api.test/")
            assert waiting.cancelled_caught

            a.latency = 0
            with trio.move_on_after(0.2) as reading:
                async with client.stream("GET", "http://api.test/?chunks=3&chunk_delay=30") as r:
                    async for _ in r.aiter_raw():
                        pass
            assert reading.cancelled_caught
            assert pools.in_flight == 0, "cancelled at the headers or in the body: nothing left"
            assert transport.statistics().active == 0
            assert (await client.get("http://api.test/")).status_code == 200


async def test_an_idle_balancer_closes_and_a_new_request_reopens_it(
    mock_clock: trio.testing.MockClock,
) -> None:
    pools = Pools()
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [a.address]})
        async with open_client(resolver, new_pool=pools, idle_timeout=60) as (client, transport):
            await client.get("http://api.test/")
            mock_clock.jump(59)
            await trio.testing.wait_all_tasks_blocked()
            assert authorities(transport) == ["api.test:80"]

            async with client.stream("GET", "http://api.test/?chunks=1") as streamed:
                mock_clock.jump(120)
                await trio.testing.wait_all_tasks_blocked()
                assert authorities(transport) == ["api.test:80"], (
                    "an open response keeps its balancer"
                )
                await streamed.aread()
            mock_clock.jump(61)
            await trio.testing.wait_all_tasks_blocked()
            assert authorities(transport) == []
            assert pools.made[0].statistics().endpoints == 0, "its endpoints are closed"

            assert (await client.get("http://api.test/")).text == "a"
            assert len(pools.made) == 2
    assert resolver.calls == [Authority("http", "api.test")] * 2


async def test_leaving_the_block_closes_everything() -> None:
    pools = Pools()
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [a.address], "other.test:80": [a.address]})
        async with open_client(resolver, new_pool=pools) as (client, transport):
            await client.get("http://api.test/")
            await client.get("http://other.test/")
        assert [pool.statistics().endpoints for pool in pools.made] == [0, 0]
        assert authorities(transport) == []
        with pytest.raises(BalancerClosedError, match="closed"):
            await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))


# -- no server needed: these run on the virtual clock ---------------------------------------


@pytest.mark.parametrize("update", [Reset([]), DoesNotExist()], ids=["empty", "gone"])
async def test_failfast_is_an_httpx_transport_error(
    autojump_clock: trio.testing.MockClock, update: Update
) -> None:
    async def discovery() -> AsyncIterator[Update]:
        yield update
        await trio.sleep_forever()

    async with open_client({"api.test:80": discovery()}, failfast_timeout=1.5) as (client, _):
        start = trio.current_time()
        with pytest.raises(BalancerFailFastError, match=r"1\.5 s") as caught:
            await client.get("http://api.test/")
        assert trio.current_time() - start == 1.5
        assert isinstance(caught.value, httpx.TransportError)
        assert isinstance(caught.value, trio_pool.PoolError)
        assert isinstance(caught.value.__cause__, trio_pool.FailFastError)
        assert caught.value.request.url == "http://api.test/"

        with pytest.raises(httpx.RequestError):
            await client.get("http://api.test/")
        assert trio.current_time() - start == 1.5, "the shut gate refuses at once"


async def test_a_failed_discovery_closes_its_balancer_and_the_next_request_rebuilds_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[Authority] = []

    async def broken() -> AsyncIterator[Update]:
        await trio.sleep(1)
        raise OSError("the registry is down")
        yield Reset([])

    def resolve(authority: Authority) -> AsyncIterator[Update]:
        calls.append(authority)
        return broken()

    async with open_client(resolve, failfast_timeout=5) as (client, transport):
        with pytest.raises(BalancerClosedError) as caught:
            await client.get("http://api.test/")
        assert isinstance(caught.value.__cause__, trio_pool.PoolClosedError)
        assert isinstance(caught.value.__cause__.__cause__, OSError)
        await trio.testing.wait_all_tasks_blocked()
        assert authorities(transport) == []

        with pytest.raises(BalancerClosedError, match="registry is down"):
            await client.get("http://api.test/")
    assert calls == [Authority("http", "api.test")] * 2


class Replayable:
    """A discovery source that starts afresh each time it is iterated."""

    def __aiter__(self) -> AsyncIterator[Update]:
        return static([])


async def test_a_one_shot_stream_from_a_mapping_keeps_its_balancer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    resolve = {"once.test:80": static([]), "again.test:80": Replayable()}
    async with open_client(resolve, failfast_timeout=1, idle_timeout=10) as (client, transport):
        for authority in resolve:
            with pytest.raises(BalancerFailFastError):
                await client.get(f"http://{authority}/")
        assert authorities(transport) == ["again.test:80", "once.test:80"]
        await trio.sleep(11)
        assert authorities(transport) == ["once.test:80"], (
            "a generator cannot feed a second balancer, so the first one stays"
        )


async def test_a_failed_one_shot_stream_keeps_failing_as_closed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A one-shot stream cannot feed a rebuilt balancer: later requests must see the
    # closed balancer's error, not a new balancer fed by nothing (failing fast forever).
    async def once() -> AsyncIterator[Update]:
        await trio.sleep(1)
        raise OSError("the registry is down")
        yield Reset([])

    async with open_client({"api.test:80": once()}, failfast_timeout=5) as (client, transport):
        for _ in range(3):
            start = trio.current_time()
            with pytest.raises(BalancerClosedError, match="registry is down"):
                await client.get("http://api.test/")
            assert trio.current_time() - start <= 1
        assert authorities(transport) == ["api.test:80"]


async def test_an_unknown_authority_is_a_connect_error() -> None:
    async with open_client({"api.test:80": static([])}) as (client, transport):
        with pytest.raises(UnknownAuthorityError, match=r"other\.test") as caught:
            await client.get("http://other.test/")
        assert isinstance(caught.value, httpx.ConnectError)
        assert isinstance(caught.value.__cause__, KeyError)
        assert authorities(transport) == []


async def test_resolve_must_give_a_discovery_stream() -> None:
    async with open_client(lambda authority: [("127.0.0.1", 80)]) as (client, _):
        with pytest.raises(TypeError, match="async iterable"):
            await client.get("http://api.test/")


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("idle_timeout", 0, ValueError),
        ("idle_timeout", "5", TypeError),
        ("failfast_timeout", -1, ValueError),
        ("capacity", -1, ValueError),
        ("connect_retries", 1.5, TypeError),
        ("max_retry_after", math.nan, ValueError),
        ("probe_timeout", math.inf, ValueError),
        ("limits", 10, TypeError),
        ("verify", "/etc/ssl", TypeError),
        ("new_pool", 3, TypeError),
    ],
)
async def test_bad_options_raise_before_anything_starts(
    option: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=option):
        async with open_balanced_transport({}, **{option: value}):
            pytest.fail("the block must not run")


async def test_both_protocols_off_is_an_error() -> None:
    with pytest.raises(ValueError, match="http1 and http2"):
        async with open_balanced_transport({}, http1=False):
            pytest.fail("the block must not run")


async def test_an_error_in_the_block_propagates_as_itself() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with open_balanced_transport({}):
            raise KeyError("mine")


async def test_an_endpoint_answering_5xx_is_ejected_by_default() -> None:
    bad = Backend("bad", status=500)
    async with open_backends(bad) as backends:
        resolver = Resolver({"api.test:80": [b.address for b in backends]})
        async with open_client(resolver) as (client, transport):
            # The only endpoint, so P2C cannot steer away: five 5xx in a row eject it,
            # as HTTP_OUTLIER_DETECTION says (at least one endpoint may always be out).
            for _ in range(5):
                assert (await client.get("http://api.test/")).status_code == 500
            (stats,) = transport.statistics().authorities
            assert stats.pool is not None
            assert stats.pool.ejected == 1
            (endpoint,) = stats.endpoints
            assert endpoint.ejected_until is not None


async def test_an_ejected_endpoint_gets_no_requests_while_the_others_serve() -> None:
    good, bad = Backend("good"), Backend("bad", status=503)
    async with open_backends(good, bad) as backends:
        resolver = Resolver({"api.test:80": [b.address for b in backends]})

        def blind(new_endpoint: Any) -> Any:
            # Calls in flight only, so that the ejection, not Peak-EWMA, keeps bad out.
            return trio_pool.RoundRobinPool(
                new_endpoint,
                metrics=new_endpoint.pool_metrics,
                outlier=trio_pool.OutlierDetection(consecutive_failures=3),
            )

        # No retries, so that each 503 reaches the caller (a GET's would be retried).
        async with open_client(resolver, new_pool=blind, retry=None) as (client, _):
            statuses = [(await client.get("http://api.test/")).status_code for _ in range(40)]
        assert statuses.count(503) == 3, "ejected after its third 5xx in a row"
        assert statuses[-20:] == [200] * 20


async def test_health_can_be_turned_off() -> None:
    good, bad = Backend("good"), Backend("bad", status=500)
    async with open_backends(good, bad) as backends:
        resolver = Resolver({"api.test:80": [b.address for b in backends]})
        async with open_client(resolver, outlier=None, slow_start=None) as (client, transport):
            for _ in range(20):
                await client.get("http://api.test/")
            (stats,) = transport.statistics().authorities
            assert stats.pool is not None
            assert stats.pool.ejected == 0
        with pytest.raises(TypeError, match=r"outlier must be a trio_pool\.OutlierDetection"):
            open_balanced_transport(resolver, outlier="yes")  # type: ignore[arg-type]
