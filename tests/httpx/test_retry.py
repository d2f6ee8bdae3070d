"""Retries and hedges through the balanced transport: HTTP's rules, against real HTTP
servers on loopback, on Trio's virtual clock where time matters."""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from trio_pool import Backoff, Hedging, PendingRequests, RetryBudget, RetryPolicy

from ..support.http_servers import Backend, open_backends
from ._flavour import (
    HTTP_RETRY,
    IDEMPOTENT_METHODS,
    RETRY_STATUSES,
    BalancedTransport,
    TransportMetricFamilies,
    _retry,
    http_retry,
    httpx,
    open_balanced_transport,
)
from ._helpers import Pools, Resolver

AT_ONCE = Backoff(initial=0, maximum=0)
METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", "POST", "PATCH", "CONNECT"]

# Hedging and callers cancel copies: over HTTP/1.1 that closes their connections; over
# HTTP/2 (cleartext, prior knowledge) it resets their streams (see ConnectionPool).
PROTOCOLS = {"http1": {}, "http2": {"http1": False, "http2": True}}
protocols = pytest.mark.parametrize("protocol", PROTOCOLS.values(), ids=list(PROTOCOLS))


def dead_address() -> tuple[str, int]:
    """A loopback address where nothing listens (a port just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return ("127.0.0.1", port)


@attrs.define(eq=False)
class Client:
    client: httpx.AsyncClient
    transport: BalancedTransport
    registry: CollectorRegistry

    def metric(self, name: str, authority: str = "api.test:80") -> float:
        value = self.registry.get_sample_value(f"trio_pool_queue_{name}", {"authority": authority})
        return 0.0 if value is None else value

    def active(self) -> int:
        return self.transport.statistics().active


@asynccontextmanager
async def open_client(
    addresses: list[tuple[str, int]], *, client_timeout: Any = 5.0, **options: Any
) -> AsyncIterator[Client]:
    registry = CollectorRegistry()
    options.setdefault("failfast_timeout", 2.0)
    async with (
        open_balanced_transport(
            Resolver({"api.test:80": addresses}),
            metrics=TransportMetricFamilies.register(registry),
            **options,
        ) as transport,
        httpx.AsyncClient(transport=transport, timeout=client_timeout) as client,
    ):
        yield Client(client, transport, registry)


async def stream_of(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await trio.lowlevel.checkpoint()
        yield chunk


# -- the policy ------------------------------------------------------------------------------


def response_to(method: str, status: int, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, headers=headers, request=httpx.Request(method, "http://api.test/")
    )


def test_the_default_policy() -> None:
    assert http_retry() == HTTP_RETRY
    assert HTTP_RETRY.attempts == 3
    assert HTTP_RETRY.budget == RetryBudget()
    assert {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"} == IDEMPOTENT_METHODS
    assert {429, 502, 503, 504} == RETRY_STATUSES
    request = httpx.Request("POST", "http://api.test/")
    assert HTTP_RETRY.retry_on(httpx.ConnectError("refused", request=request))
    assert HTTP_RETRY.retry_on(httpx.ConnectTimeout("slow", request=request))
    for error in (
        httpx.ReadTimeout("slow", request=request),
        httpx.RemoteProtocolError("gone", request=request),
        httpx.ReadError("reset", request=request),
        ConnectionError("not httpx's"),
    ):
        assert not HTTP_RETRY.retry_on(error), f"{error!r} may have reached the server"
    assert not HTTP_RETRY.retry_on(httpx.Response(503)), "a response without its request"


@given(st.sampled_from(METHODS), st.integers(100, 599))
def test_an_answer_is_retried_for_an_idempotent_method_and_a_retry_status(
    method: str, status: int
) -> None:
    expected = method in IDEMPOTENT_METHODS and status in RETRY_STATUSES
    assert HTTP_RETRY.retry_on(response_to(method, status)) is expected


def test_http_retry_takes_its_statuses_and_methods() -> None:
    policy = http_retry(statuses=[500], methods=["post"], attempts=2)
    assert policy.attempts == 2
    assert policy.retry_on(response_to("POST", 500))
    assert not policy.retry_on(response_to("GET", 500))
    assert not policy.retry_on(response_to("POST", 503))
    assert policy.retry_on(httpx.ConnectError("refused")), "connect failures, always"


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"statuses": 503}, TypeError, "statuses must be a collection of ints"),
        ({"statuses": [99]}, ValueError, "statuses must hold HTTP statuses"),
        ({"statuses": [True]}, ValueError, "statuses must hold HTTP statuses"),
        ({"methods": "GET"}, TypeError, "methods must be a collection of str"),
        ({"methods": [1]}, TypeError, "methods must hold method names"),
        ({"attempts": 0}, ValueError, "attempts must be >= 1"),
    ],
)
def test_http_retry_checks_its_arguments(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        http_retry(**options)


def test_retry_after_reads_seconds_and_dates() -> None:
    assert _retry.retry_after(response_to("GET", 503, **{"retry-after": "7"})) == 7.0
    in_30_s = email.utils.formatdate(time.time() + 30, usegmt=True)
    asked = _retry.retry_after(response_to("GET", 503, **{"retry-after": in_30_s}))
    assert asked is not None
    assert 28 <= asked <= 30, "an HTTP date, against the wall clock, to the second"
    assert _retry.retry_after(response_to("GET", 503, **{"retry-after": "soon"})) is None
    assert _retry.retry_after(response_to("GET", 503)) is None
    assert _retry.retry_after(httpx.ConnectError("refused")) is None


async def test_bodies_in_memory_replay_and_streams_only_until_read() -> None:
    for built in (
        httpx.Request("GET", "http://api.test/"),
        httpx.Request("PUT", "http://api.test/", content=b"payload"),
        httpx.Request("POST", "http://api.test/", json={"a": 1}),
        httpx.Request("POST", "http://api.test/", data={"a": "1"}),
    ):
        assert _retry.track_body(built) is built, "a body in memory needs no tracking"
        assert _retry.replayable_body(built)
    streamed = httpx.Request("PUT", "http://api.test/", content=stream_of(b"a", b"b"))
    assert not _retry.replayable_body(streamed), "an untracked stream is not known to be unread"
    tracked = _retry.track_body(streamed)
    assert tracked is not streamed, "a copy: the caller's request is untouched"
    assert isinstance(tracked.stream, _retry.ReadOnceStream)
    assert streamed.stream is not tracked.stream
    assert (tracked.method, tracked.url, tracked.headers) == (
        streamed.method,
        streamed.url,
        streamed.headers,
    )
    assert _retry.track_body(tracked) is tracked
    assert _retry.replayable_body(tracked), "not read yet"
    assert [chunk async for chunk in tracked.stream] == [b"a", b"b"]
    assert not _retry.replayable_body(tracked), "read: what it yielded is gone"


def test_only_idempotent_requests_with_a_body_in_memory_are_hedged() -> None:
    for method in METHODS:
        request = httpx.Request(method, "http://api.test/", content=b"x")
        assert _retry.may_hedge(request) is (method in IDEMPOTENT_METHODS)
    streamed = httpx.Request("PUT", "http://api.test/", content=stream_of(b"a"))
    assert not _retry.may_hedge(_retry.track_body(streamed)), "a stream cannot feed two requests"


def test_the_transport_checks_its_policies() -> None:
    resolver = Resolver({})
    with pytest.raises(TypeError, match=r"retry must be a trio_pool\.RetryPolicy or None"):
        open_balanced_transport(resolver, retry=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"hedging must be a trio_pool\.Hedging or None"):
        open_balanced_transport(resolver, hedging=0.05)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not both"):
        open_balanced_transport(resolver, retry=http_retry(), connect_retries=1)
    with pytest.raises(TypeError, match="not both"):
        open_balanced_transport(resolver, retry=None, connect_retries=1)


# -- connect failures: never sent, so retried whatever the method ---------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
async def test_a_request_that_could_not_connect_is_retried_whatever_its_method(
    method: str,
) -> None:
    pools = Pools(load=PendingRequests())
    async with open_backends(Backend("a")) as (a,):
        addresses = [dead_address(), dead_address(), a.address]
        async with open_client(addresses, new_pool=pools) as setup:
            for _ in range(6):
                response = await setup.client.request(method, "http://api.test/", content=b"x" * 9)
                assert response.text == "a", "a request that cannot connect tries another"
            retries = setup.metric("retries_total")
    assert retries >= 1, "the seeded picker tried a dead address first at least once"
    assert a.requests == 6
    assert all(seen.body_length == 9 for seen in a.seen), "the body, sent once, in full"


async def test_a_streamed_body_not_read_yet_is_retried_after_a_connect_failure() -> None:
    pools = Pools(load=PendingRequests())
    async with open_backends(Backend("a")) as (a,):
        addresses = [dead_address(), dead_address(), a.address]
        async with open_client(addresses, new_pool=pools) as setup:
            for _ in range(6):
                body = stream_of(b"abc", b"def")
                response = await setup.client.post("http://api.test/", content=body)
                assert response.text == "a"
            assert setup.metric("retries_total") >= 1
    assert [seen.body_length for seen in a.seen] == [6] * 6


async def test_a_response_to_a_streamed_body_carries_the_callers_request() -> None:
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [a.address]})
        async with open_balanced_transport(resolver) as transport:
            request = httpx.Request("PUT", "http://api.test/", content=stream_of(b"abc"))
            response = await transport.handle_async_request(request)
            await response.aclose()
            assert response.request is request, "not the copy that noted the body's reading"


async def test_without_retries_a_connect_error_reaches_the_caller() -> None:
    for options in ({"retry": None}, {"connect_retries": 0}):
        async with open_client([dead_address()], **options) as setup:
            with pytest.raises(httpx.ConnectError):
                await setup.client.get("http://api.test/")
            assert setup.metric("retries_total") == 0


async def test_connect_retries_is_a_shorthand_that_retries_only_connect_failures() -> None:
    busy = Backend("busy", status=503)
    async with (
        open_backends(busy) as (busy,),
        open_client([busy.address], connect_retries=2) as setup,
    ):
        assert (await setup.client.get("http://api.test/")).status_code == 503
    assert busy.requests == 1, "a 503 is not a connect failure"


# -- answers: retried for idempotent methods only --------------------------------------------


async def test_a_get_answered_503_is_retried_on_another_endpoint() -> None:
    busy, good = Backend("busy", status=503), Backend("good")
    async with (
        open_backends(busy, good),
        open_client([busy.address, good.address], new_pool=Pools()) as setup,
    ):
        for _ in range(20):
            response = await setup.client.get("http://api.test/")
            assert response.status_code == 200, "the 503 was retried"
            assert response.text == "good"
        assert setup.metric("retries_total") == busy.requests
    assert busy.requests >= 1, "P2C sent some first tries to the busy backend"


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_a_request_that_is_not_idempotent_gets_its_503(method: str) -> None:
    backends = [Backend(f"busy{i}", status=503) for i in range(3)]
    async with open_backends(*backends), open_client([b.address for b in backends]) as setup:
        response = await setup.client.request(method, "http://api.test/", content=b"x")
        assert response.status_code == 503
        assert setup.metric("retries_total") == 0
    assert sum(b.requests for b in backends) == 1, "sent once: the server may have acted"


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
async def test_an_idempotent_request_is_tried_on_each_endpoint_then_gets_the_last_answer(
    status: int,
) -> None:
    backends = [Backend(f"b{i}", status=status) for i in range(3)]
    async with (
        open_backends(*backends),
        open_client([b.address for b in backends], retry=http_retry(backoff=AT_ONCE)) as setup,
    ):
        response = await setup.client.put("http://api.test/", content=b"payload")
        assert response.status_code == status, "the last answer, as it was"
        assert setup.metric("retries_total") == 2
        assert setup.active() == 0
    assert [b.requests for b in backends] == [1, 1, 1], "each retry to an endpoint not tried"
    assert all(b.seen[0].body_length == 7 for b in backends), "the body, replayed in full"


async def test_a_500_is_not_retried_by_default() -> None:
    broken = [Backend(f"b{i}", status=500) for i in range(2)]
    async with open_backends(*broken), open_client([b.address for b in broken]) as setup:
        assert (await setup.client.get("http://api.test/")).status_code == 500
    assert sum(b.requests for b in broken) == 1


async def test_a_streamed_body_that_was_read_is_never_replayed() -> None:
    backends = [Backend(f"busy{i}", status=503) for i in range(3)]
    async with open_backends(*backends):
        # A policy that would retry anything, even this PUT's answer.
        anything = RetryPolicy(retry_on=lambda outcome: True, backoff=AT_ONCE)
        for retry in (HTTP_RETRY, anything):
            async with open_client([b.address for b in backends], retry=retry) as setup:
                body = stream_of(b"abc", b"def")
                response = await setup.client.put("http://api.test/", content=body)
                assert response.status_code == 503, "the caller gets the answer"
                assert setup.metric("retries_total") == 0
    assert sum(b.requests for b in backends) == 2, "one request per policy, never replayed"
    assert all(seen.body_length == 6 for b in backends for seen in b.seen)


async def test_retried_responses_are_closed_and_leak_no_connection() -> None:
    pools = Pools()
    backends = [Backend(f"busy{i}", status=503) for i in range(3)]
    async with (
        open_backends(*backends),
        open_client(
            [b.address for b in backends], new_pool=pools, retry=http_retry(backoff=AT_ONCE)
        ) as setup,
    ):
        for _ in range(5):
            url = "http://api.test/?chunks=50"  # a body the retried ones never read
            async with setup.client.stream("GET", url) as response:
                assert response.status_code == 503
                assert pools.in_flight == 1, "only the delivered response is open"
            assert pools.in_flight == 0
            assert setup.active() == 0
        in_flight = setup.registry.get_sample_value(
            "trio_pool_endpoint_in_flight",
            {"authority": "api.test:80", "endpoint": f"127.0.0.1:{backends[0].port}"},
        )
        assert in_flight == 0
        assert setup.metric("retries_total") == 10


async def test_a_refused_retry_gives_the_last_response_unwrapped_and_readable() -> None:
    stingy = http_retry(budget=RetryBudget(percent=0, min_per_second=0))
    backends = [Backend("busy", status=503), Backend("also busy", status=503)]
    async with (
        open_backends(*backends),
        open_client([b.address for b in backends], retry=stingy) as setup,
    ):
        async with setup.client.stream("GET", "http://api.test/?chunks=3") as response:
            assert response.status_code == 503
            assert await response.aread() == b"chunk\n" * 3, "its stream is the caller's"
        assert setup.metric("retries_refused_total") == 1
        assert setup.metric("retries_total") == 0
    assert sum(b.requests for b in backends) == 1


async def test_each_authority_keeps_its_own_budget() -> None:
    # One retry per 10 s for each authority, whatever the traffic.
    policy = http_retry(
        budget=RetryBudget(percent=0, min_per_second=0.1), backoff=AT_ONCE, distinct_endpoints=False
    )
    busy = Backend("busy", status=503)
    async with open_backends(busy):
        resolver = Resolver({"one.test:80": [busy.address], "two.test:80": [busy.address]})
        async with (
            open_balanced_transport(resolver, retry=policy) as transport,
            httpx.AsyncClient(transport=transport) as client,
        ):
            await client.get("http://one.test/")
            await client.get("http://one.test/")
            authorities = transport.statistics().authorities
            assert authorities["one.test:80"].queue.retry_budget == 0  # type: ignore[union-attr]
            await client.get("http://two.test/")
            authorities = transport.statistics().authorities
            assert authorities["two.test:80"].queue.retry_budget == 0  # type: ignore[union-attr]
    assert busy.requests == 2 + 1 + 2, "one.test: a retry, then none; two.test: its own retry"


# -- Retry-After ------------------------------------------------------------------------------


async def test_retry_after_is_waited_before_the_retry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    busy = Backend("busy", status=503, retry_after="2")
    async with (
        open_backends(busy),
        open_client(
            [busy.address], retry=http_retry(backoff=AT_ONCE, distinct_endpoints=False)
        ) as setup,
    ):
        start = trio.current_time()
        response = await setup.client.get("http://api.test/")
        assert response.status_code == 503
        assert trio.current_time() - start == pytest.approx(4.0, abs=0.01), (
            "two retries, each 2 s after the answer that asked for it"
        )
    assert busy.requests == 3


async def test_a_retry_waits_the_longer_of_retry_after_and_the_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    busy = Backend("busy", status=503, retry_after="0")
    slow_backoff = Backoff(initial=1.5, maximum=1.5, jitter=0)
    async with (
        open_backends(busy),
        open_client(
            [busy.address], retry=http_retry(backoff=slow_backoff, distinct_endpoints=False)
        ) as setup,
    ):
        start = trio.current_time()
        await setup.client.get("http://api.test/")
        assert trio.current_time() - start == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize(
    ("retry_after", "client_timeout", "max_retry_after", "requests"),
    [
        ("10", httpx.Timeout(5.0), 300.0, 1),  # longer than the pool timeout (5 s)
        ("3", httpx.Timeout(5.0, pool=2.0), 300.0, 1),  # longer than a shorter one
        ("3", httpx.Timeout(5.0), 300.0, 2),  # the first retry fits, the second not
        ("10", httpx.Timeout(5.0, pool=None), 8.0, 1),  # beyond max_retry_after
        ("10", httpx.Timeout(5.0, pool=None), 300.0, 3),  # within every bound
    ],
)
async def test_a_retry_after_beyond_the_caps_gives_the_caller_the_answer_at_once(
    autojump_clock: trio.testing.MockClock,
    retry_after: str,
    client_timeout: httpx.Timeout,
    max_retry_after: float,
    requests: int,
) -> None:
    busy = Backend("busy", status=429, retry_after=retry_after)
    async with (
        open_backends(busy),
        open_client(
            [busy.address],
            client_timeout=client_timeout,
            max_retry_after=max_retry_after,
            retry=http_retry(backoff=AT_ONCE, distinct_endpoints=False),
        ) as setup,
    ):
        start = trio.current_time()
        response = await setup.client.get("http://api.test/")
        waited = trio.current_time() - start
        assert response.status_code == 429
    assert busy.requests == requests
    assert waited == pytest.approx(float(retry_after) * (requests - 1), abs=0.01), (
        "each retry waited what it was asked; the answer whose wait does not fit comes at once"
    )


@protocols
async def test_cancelling_the_caller_during_a_retry_after_leaves_nothing_behind(
    autojump_clock: trio.testing.MockClock, protocol: dict[str, bool]
) -> None:
    pools = Pools()
    busy = Backend("busy", status=503, retry_after="3")
    async with (
        open_backends(busy),
        open_client(
            [busy.address],
            new_pool=pools,
            retry=http_retry(distinct_endpoints=False),  # back to the one endpoint
            **protocol,
        ) as setup,
    ):
        with trio.move_on_after(1.0) as scope:
            await setup.client.get("http://api.test/")
        assert scope.cancelled_caught
        assert pools.in_flight == 0
        assert setup.active() == 0
        await trio.sleep(5)
    assert busy.requests == 1, "the retry died with its caller"


# -- hedging ----------------------------------------------------------------------------------


@protocols
async def test_a_hedged_get_wins_on_the_fast_endpoint_and_the_slow_copy_is_cancelled(
    autojump_clock: trio.testing.MockClock, protocol: dict[str, bool]
) -> None:
    pools = Pools(load=PendingRequests())
    slow, fast = Backend("slow", latency=1.0), Backend("fast")
    async with (
        open_backends(slow, fast),
        open_client(
            [slow.address, fast.address], new_pool=pools, hedging=Hedging(delay=0.05), **protocol
        ) as setup,
    ):
        for _ in range(10):
            start = trio.current_time()
            async with setup.client.stream("GET", "http://api.test/?chunks=2") as response:
                assert trio.current_time() - start <= 0.05 + 0.01, "never the slow 1 s"
                assert response.headers["x-backend"] == "fast"
                assert pools.in_flight == 1, "the slow copy was cancelled: only the winner"
                assert await response.aread() == b"chunk\n" * 2, "the winner's stream"
            assert pools.in_flight == 0
        hedges = setup.metric("hedges_total")
    assert hedges == slow.requests, "a hedge for each request that went to the slow one first"
    assert hedges >= 1, "the seeded picker sent some first copies to the slow backend"
    versions = {seen.http_version for backend in (slow, fast) for seen in backend.seen}
    assert versions == ({"2"} if protocol else {"1.1"})


@pytest.mark.parametrize(
    ("method", "body", "hedged"),
    [
        ("GET", None, True),
        ("PUT", b"payload", True),
        ("POST", b"payload", False),
        ("PATCH", b"payload", False),
        ("PUT", "stream", False),
    ],
)
@protocols
async def test_only_idempotent_requests_with_a_body_in_memory_are_hedged_by_the_transport(
    autojump_clock: trio.testing.MockClock,
    method: str,
    body: bytes | str | None,
    hedged: bool,
    protocol: dict[str, bool],
) -> None:
    backends = [Backend("a", latency=0.3), Backend("b", latency=0.3)]
    async with (
        open_backends(*backends),
        open_client(
            [b.address for b in backends], hedging=Hedging(delay=0.05), **protocol
        ) as setup,
    ):
        content: Any = stream_of(b"abc") if body == "stream" else body
        response = await setup.client.request(method, "http://api.test/", content=content)
        assert response.status_code == 200
        assert setup.metric("hedges_total") == (1 if hedged else 0)
    assert sum(b.requests for b in backends) == (2 if hedged else 1)


@protocols
async def test_cancelling_the_caller_cancels_every_copy(
    autojump_clock: trio.testing.MockClock, protocol: dict[str, bool]
) -> None:
    pools = Pools()
    backends = [Backend(f"b{i}", latency=1.0) for i in range(3)]
    async with (
        open_backends(*backends),
        open_client(
            [b.address for b in backends],
            new_pool=pools,
            hedging=Hedging(delay=0.05, max_attempts=3),
            **protocol,
        ) as setup,
    ):
        with trio.move_on_after(0.2) as scope:
            await setup.client.get("http://api.test/")
        assert scope.cancelled_caught
        assert pools.in_flight == 0, "no copy outlives its caller"
        assert setup.active() == 0
        assert setup.metric("hedges_total") == 2
    assert [b.requests for b in backends] == [1, 1, 1]


async def test_hedging_and_retries_are_counted_by_authority(
    autojump_clock: trio.testing.MockClock,
) -> None:
    busy, slow = Backend("busy", status=503), Backend("slow", latency=0.2)
    async with open_backends(busy, slow):
        resolver = Resolver({"busy.test:80": [busy.address], "slow.test:80": [slow.address]})
        registry = CollectorRegistry()
        async with (
            open_balanced_transport(
                resolver,
                metrics=TransportMetricFamilies.register(registry),
                retry=http_retry(backoff=AT_ONCE, distinct_endpoints=False),
                hedging=Hedging(delay=0.05),
            ) as transport,
            httpx.AsyncClient(transport=transport) as client,
        ):
            await client.get("http://busy.test/")
            await client.get("http://slow.test/")

            def value(name: str, authority: str) -> float | None:
                return registry.get_sample_value(
                    f"trio_pool_queue_{name}_total", {"authority": authority}
                )

            assert value("retries", "busy.test:80") == 2
            assert value("retries", "slow.test:80") == 0
            assert value("hedges", "slow.test:80") == 1, "the one endpoint, hedged to itself"
            assert value("hedges_refused", "slow.test:80") == 0
            assert value("retries_refused", "busy.test:80") == 0
            statistics = transport.statistics().authorities["slow.test:80"].queue
            assert statistics is not None
            assert statistics.hedge_delay == 0.05
            assert statistics.retry_budget is not None
