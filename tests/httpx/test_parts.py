"""The parts of the httpx transport, one at a time: authority, Retry-After, errors,
the releasing stream, and an endpoint's readiness as its requests teach it."""

from __future__ import annotations

import email.utils
import math
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
import trio
import trio.testing

import trio_pool
from trio_pool import Add, DoesNotExist, Lease, Remove, Reset

from ._flavour import (
    Authority,
    BalancerClosedError,
    BalancerError,
    BalancerFailFastError,
    BalancerPoolTimeout,
    HttpEndpoint,
    UnknownAuthorityError,
    _endpoint,
    _errors,
    _retry_after,
    _stream,
    balanced,
    httpx,
)

# -- authority ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "authority", "text"),
    [
        ("http://api.test/users", Authority("http", "api.test", 80), "api.test:80"),
        ("https://API.Test/", Authority("https", "api.test", 443), "api.test:443"),
        ("http://api.test:8080/", Authority("http", "api.test", 8080), "api.test:8080"),
        ("http://api.test:80/", Authority("http", "api.test", 80), "api.test:80"),
        ("http://api.test:080/", Authority("http", "api.test", 80), "api.test:80"),
        ("https://api.test:443/", Authority("https", "api.test", 443), "api.test:443"),
        ("https://api.test:80/", Authority("https", "api.test", 80), "api.test:80"),
        ("http://[::1]:8080/", Authority("http", "::1", 8080), "[::1]:8080"),
        ("http://user:secret@api.test/", Authority("http", "api.test", 80), "api.test:80"),
        ("http://bücher.test/", Authority("http", "bücher.test", 80), "bücher.test:80"),
        ("ws://api.test/", Authority("ws", "api.test", 80), "api.test:80"),
        ("wss://api.test/", Authority("wss", "api.test", 443), "api.test:443"),
    ],
)
def test_an_authority_is_scheme_host_and_port(url: str, authority: Authority, text: str) -> None:
    assert Authority.from_url(httpx.URL(url)) == authority
    assert str(authority) == text
    assert authority.origin == f"{authority.scheme}://{text}"


def test_the_schemes_default_port_is_filled_in() -> None:
    assert Authority("https", "api.test").port == 443
    assert Authority("HTTP", "API.test") == Authority("http", "api.test", 80)
    assert Authority("http", "api.test") != Authority("https", "api.test", 80)
    assert Authority("https", "api.test").tls
    assert not Authority("http", "api.test").tls
    assert len({Authority("http", "a"), Authority("http", "a", 80)}) == 1, "hashable, equal"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Authority("http", "a").port = 8080  # type: ignore[misc]


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        (("ftp", "a"), ValueError, "scheme"),
        (("http", ""), ValueError, "host"),
        (("http", "a", 70000), ValueError, "0-65535"),
        (("http", "a", "80"), TypeError, "int"),
        (("http", "a", True), TypeError, "int"),
    ],
)
def test_a_bad_authority_is_refused(
    arguments: tuple[Any, ...], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Authority(*arguments)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://", "missing an 'http://' or 'https://' protocol"),
        ("://example.org", "missing an 'http://' or 'https://' protocol"),
        ("invalid://example.org", "unsupported protocol 'invalid://'"),
        ("ftp://example.org", "unsupported protocol 'ftp://'"),
    ],
)
def test_a_url_without_an_authority_is_an_unsupported_protocol(url: str, message: str) -> None:
    request = httpx.AsyncClient().build_request("GET", url)
    with pytest.raises(httpx.UnsupportedProtocol, match=re.escape(message)):
        Authority.from_url(request.url)


# -- Retry-After ----------------------------------------------------------------------------


def test_retry_after_reads_seconds_and_dates() -> None:
    now = 1_700_000_000.0
    assert _retry_after.retry_after_delay("120", now) == 120.0
    assert _retry_after.retry_after_delay(" 0 ", now) == 0.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert _retry_after.retry_after_delay(date, now) == 90.0
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert _retry_after.retry_after_delay(past, now) == 0.0


@pytest.mark.parametrize("value", [None, "", "-5", "1.5", "soon", "Wed, 99 Foo 2015", "٣"])
def test_retry_after_ignores_what_it_cannot_read(value: str | None) -> None:
    assert _retry_after.retry_after_delay(value, 1_700_000_000.0) is None


# -- errors ---------------------------------------------------------------------------------


ORIGIN = "https://api.test:443"


@pytest.mark.parametrize(
    ("original", "mapped", "httpx_class", "words"),
    [
        (
            trio_pool.FailFastError.timed_out(
                3.0, "2 endpoints (0 ready, 0 pending, 2 backing off)"
            ),
            BalancerFailFastError,
            httpx.ConnectError,
            "no endpoint of https://api.test:443 could be reached: no endpoint became ready "
            "within the failfast timeout of 3 s: 2 endpoints (0 ready, 0 pending, 2 backing off)",
        ),
        (
            trio_pool.DispatchTimeoutError.timed_out(0.5, "1 endpoint (0 ready, 1 pending)"),
            BalancerPoolTimeout,
            httpx.PoolTimeout,
            "no endpoint of https://api.test:443 was ready within the request's pool timeout "
            "of 0.5 s: 1 endpoint (0 ready, 1 pending)",
        ),
        (
            trio_pool.DispatchTimeoutError("built by hand"),
            BalancerPoolTimeout,
            httpx.PoolTimeout,
            "no endpoint of https://api.test:443 was ready within the request's pool timeout",
        ),
        (
            trio_pool.PoolClosedError("discovery failed: OSError('down')"),
            BalancerClosedError,
            httpx.TransportError,
            "the balancer of https://api.test:443 is closed: discovery failed: OSError('down')",
        ),
    ],
    ids=["failfast", "pool-timeout", "pool-timeout-by-hand", "closed"],
)
def test_pool_errors_map_to_httpx_errors_that_name_the_authority(
    original: trio_pool.PoolError,
    mapped: type[BalancerError],
    httpx_class: type[httpx.TransportError],
    words: str,
) -> None:
    request = httpx.Request("GET", "https://api.test/")
    error = _errors.map_pool_error(original, ORIGIN, request)
    assert type(error) is mapped
    assert isinstance(error, httpx_class)
    assert isinstance(error, trio_pool.PoolError)
    assert error.request is request
    assert str(error) == words


def test_an_unknown_authority_is_a_connect_error_and_a_pool_error() -> None:
    assert issubclass(UnknownAuthorityError, httpx.ConnectError)
    assert issubclass(UnknownAuthorityError, trio_pool.PoolError)


# -- the releasing stream -------------------------------------------------------------------


class Chunks(httpx.AsyncByteStream):
    def __init__(self, fail_close: bool = False) -> None:
        self.closed = 0
        self.fail_close = fail_close

    async def __aiter__(self) -> Any:
        for chunk in (b"a", b"b"):
            yield chunk

    async def aclose(self) -> None:
        self.closed += 1
        if self.fail_close:
            raise httpx.ReadError("broken while closing")


async def test_a_releasing_stream_passes_chunks_and_releases_once() -> None:
    inner, released = Chunks(), []
    stream = _stream.ReleasingStream(inner, lambda: released.append(1))
    assert [chunk async for chunk in stream] == [b"a", b"b"]
    await stream.aclose()
    await stream.aclose()
    assert released == [1]
    assert inner.closed == 2, "closing is passed on; releasing happens once"


async def test_a_releasing_stream_releases_even_if_closing_fails() -> None:
    released: list[int] = []
    stream = _stream.ReleasingStream(Chunks(fail_close=True), lambda: released.append(1))
    with pytest.raises(httpx.ReadError):
        await stream.aclose()
    assert released == [1]


# -- an endpoint ----------------------------------------------------------------------------

OPTIONS = _endpoint.EndpointOptions(
    ssl_context=httpx.create_ssl_context(verify=False),
    http1=True,
    http2=False,
    limits=httpx.Limits(),
    max_retry_after=60.0,
    probe_timeout=1.0,
)


def endpoint_over(
    handler: Any, address: tuple[str, int] = ("10.0.0.7", 8080)
) -> tuple[HttpEndpoint, list[httpx.Request]]:
    """An endpoint whose connections are ``handler``; the requests it saw."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        response: httpx.Response = handler(request)
        return response

    return HttpEndpoint(address, httpx.MockTransport(record), OPTIONS, set()), seen


async def test_an_endpoint_sends_the_request_as_its_caller_wrote_it() -> None:
    endpoint, seen = endpoint_over(lambda request: httpx.Response(200))
    original = httpx.Request("GET", "https://api.test/users?page=2", headers={"x-id": "7"})
    await endpoint.call(original)
    (sent,) = seen
    assert sent is original, "the inner transport sees the caller's request, URL and all"
    assert "sni_hostname" not in sent.extensions, "TLS takes the logical name from the URL"

    bare = httpx.Request("GET", "http://bücher.test:81/", stream=httpx.ByteStream(b""))
    assert "host" not in bare.headers
    await endpoint.call(bare)
    assert seen[1].url == bare.url
    assert seen[1].headers["host"] == "xn--bcher-kva.test:81", "a missing Host is the logical one"


async def test_retry_after_is_told_to_the_pool_through_the_lease_and_never_blocks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    answers = iter(
        [
            httpx.Response(503, headers={"retry-after": "10"}),
            httpx.Response(200, headers={"retry-after": "99"}),
            httpx.Response(429, headers={"retry-after": "soon"}),
            httpx.Response(429, headers={"retry-after": "3600"}),
            httpx.Response(503),
        ]
    )
    endpoint, _ = endpoint_over(lambda request: next(answers))
    request = httpx.Request("GET", "http://api.test/")
    penalties: list[float | None] = []
    failed: list[bool] = []
    for _ in range(5):
        lease = Lease()
        await endpoint.call_leased(request, lease)
        penalties.append(lease.retry_after)
        failed.append(lease.failed)
        endpoint.ready_nowait()  # ready all along: a penalty weighs, it does not block
        await endpoint.ready()
    assert penalties == [10.0, None, None, 60.0, None], (
        "a 429/503's Retry-After, at most max_retry_after; a 200's or an unreadable one "
        "asks for nothing"
    )
    assert failed == [False, False, False, False, True], (
        "a throttling answer with Retry-After is no failure; a bare 503 is"
    )
    assert trio.current_time() == 0.0


async def test_a_connect_error_fails_the_endpoint_and_its_successor_probes() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    endpoint, _ = endpoint_over(refuse)
    suspects = endpoint._suspects
    with pytest.raises(httpx.ConnectError):
        await endpoint.call(httpx.Request("GET", "http://api.test/"))
    with pytest.raises(ConnectionError, match="could not connect") as caught:
        endpoint.ready_nowait()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    with pytest.raises(ConnectionError):
        await endpoint.ready()
    assert suspects == {("10.0.0.7", 8080)}

    with trio.socket.socket() as listener:
        await listener.bind(("127.0.0.1", 0))
        listener.listen()
        live = listener.getsockname()
        factory = _endpoint.EndpointFactory(OPTIONS)
        first = factory(live, None)
        factory._suspects.add(live)
        successor = factory(live, None)
        first.ready_nowait()
        with pytest.raises(trio.WouldBlock):
            successor.ready_nowait()  # a probe is due, so the pool awaits ready()
        await successor.ready()
        successor.ready_nowait()
        assert factory._suspects == set(), "a probe that connects clears the address"
        await first.aclose()
        await successor.aclose()

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()
    factory._suspects.add(dead)
    with pytest.raises(OSError, match="onnect"):
        await factory(dead, None).ready()


def test_the_factory_forgets_the_refused_addresses_discovery_removes() -> None:
    factory = _endpoint.EndpointFactory(OPTIONS)
    a, b, c = ("10.0.0.1", 80), ("10.0.0.2", 80), ("10.0.0.3", 80)
    factory._suspects.update({a, b, c})
    factory.updated(Add([(a, None)]))
    assert factory._suspects == {a, b, c}
    factory.updated(Remove([a, ("10.0.0.9", 80)]))
    assert factory._suspects == {b, c}
    factory.updated(Reset([(b, None), (a, None)]))
    assert factory._suspects == {b}
    factory.updated(DoesNotExist())
    assert factory._suspects == set()


async def test_refused_addresses_that_discovery_removes_are_not_remembered() -> None:
    # Pods rescheduled at fresh addresses, each refused once, then removed: the
    # transport's memory of them does not grow with every address ever seen.
    factories: list[Any] = []

    def new_pool(new_endpoint: Any) -> Any:
        factories.append(new_endpoint)
        return trio_pool.P2CPool(new_endpoint, metrics=new_endpoint.pool_metrics)

    send, receive = trio.open_memory_channel[trio_pool.Update](math.inf)

    async def discovery() -> AsyncIterator[trio_pool.Update]:
        async for update in receive:
            yield update

    async with (
        balanced.open_balanced_transport(
            {"api.test:80": discovery()}, new_pool=new_pool
        ) as transport,
        httpx.AsyncClient(transport=transport) as client,
    ):
        for _ in range(50):
            with socket.socket() as closed:
                closed.bind(("127.0.0.1", 0))
                address = closed.getsockname()
            send.send_nowait(Reset([(address, None)]))
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(httpx.ConnectError):
                await client.get("http://api.test/")
        (factory,) = factories
        assert len(factory._suspects) <= 1, "only the address discovery still holds"
        send.send_nowait(DoesNotExist())
        await trio.testing.wait_all_tasks_blocked()
        assert factory._suspects == set()


async def test_a_leased_call_releases_when_its_response_closes() -> None:
    endpoint, _ = endpoint_over(lambda request: httpx.Response(200, stream=Chunks()))
    lease = Lease()
    response = await endpoint.call_leased(httpx.Request("GET", "http://api.test/"), lease)
    assert not lease.released
    assert await response.aread() == b"ab"
    assert lease.released, "reading the body to its end closes it"


@pytest.mark.parametrize(
    "address", [("10.0.0.1",), ["10.0.0.1", 80], ("10.0.0.1", "80"), (None, 80), ("a", True)]
)
def test_an_address_must_be_host_and_port(address: Any) -> None:
    with pytest.raises(TypeError, match=r"\(host: str, port: int\)"):
        _endpoint.EndpointFactory(OPTIONS)(address, None)


@pytest.mark.parametrize("address", [("", 80), ("10.0.0.1", 0), ("10.0.0.1", 65536)])
def test_an_address_needs_a_host_and_a_valid_port(address: Any) -> None:
    with pytest.raises(ValueError, match="1-65535"):
        _endpoint.EndpointFactory(OPTIONS)(address, None)


async def test_a_response_closed_as_it_is_made_releases_at_once() -> None:
    # httpx reads and closes a response built from content= as it is made, and never
    # closes it again: waiting for its close would keep the call counted for good.
    endpoint, _ = endpoint_over(lambda request: httpx.Response(200, content=b"ok"))
    lease = Lease()
    response = await endpoint.call_leased(httpx.Request("GET", "http://api.test/"), lease)
    assert response.is_closed
    assert lease.released
