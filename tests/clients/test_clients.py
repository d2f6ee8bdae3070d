"""Differential suite: client libraries over their own httpx(2) transport and over the
balanced transport, in front of one endpoint, must give the same outcome.

Each scenario runs against a scripted hypercorn server on loopback (`clients_server`),
once with ``kind="plain"`` (the library's default transport) and once with
``kind="balanced"`` (``open_balanced_transport`` resolving each authority to itself),
for each flavour (httpx, httpx2) the library supports. What is compared: the status code
or the exception type, the requests the server received, and the client sockets left
open (ESTABLISHED or CLOSE_WAIT with a descriptor of ours, remote port = the server's).

Sockets are counted at two moments. "After close" is right after the client is closed;
for the balanced transport, whose ``aclose`` is a no-op by design (the transport outlives
its clients, until its ``open_balanced_transport`` block ends), idle keep-alive
connections are still there then: `test_keepalive_sockets_after_client_close` checks that
difference alone; the scenarios compare "after teardown" (client closed, and for the
balanced transport its block left), plus "after close" where no connection should be
reusable (a body broken off, a timeout, a refused connection).

Only one endpoint per authority here. Where a multi-endpoint authority would differ by
design, a comment says why.

Sockets are read from ``/proc/self/net/tcp``: Linux only.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, cast

import attrs
import gql
import hishel
import hishel.httpx
import hishel.httpx2
import httpx
import httpx2
import httpx_sse
import openai
import pytest
import trio
from gql.transport.exceptions import TransportError, TransportServerError
from gql.transport.httpx import HTTPXAsyncTransport
from hishel._core._storages._async_base import AsyncBaseStorage
from hishel._utils import make_async_iterator

import trio_pool.httpx
import trio_pool.httpx2
from trio_pool import Reset

from .server import Reply, Route, client_sockets, serve

Kind = Literal["plain", "balanced"]
Flavour = Literal["httpx", "httpx2"]

KINDS: list[Kind] = ["plain", "balanced"]
FLAVOURS: list[Flavour] = ["httpx", "httpx2"]

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/net/tcp"), reason="sockets are counted from Linux's /proc"
)

_ESTABLISHED, _CLOSE_WAIT = "01", "08"
LEFT_OPEN = frozenset({_ESTABLISHED, _CLOSE_WAIT})


# -- the two transports -------------------------------------------------------------------


async def _static(addresses: list[tuple[str, int]]) -> AsyncIterator[Reset[tuple[str, int], None]]:
    yield Reset([(address, None) for address in addresses])
    await trio.sleep_forever()


def _itself(authority: trio_pool.httpx.Authority) -> AsyncIterator[Reset[tuple[str, int], None]]:
    """Each authority to its own host and port: one endpoint."""
    return _static([(authority.host, authority.port)])


def _library(flavour: Flavour) -> Any:
    return httpx if flavour == "httpx" else httpx2


@attrs.define
class Sockets:
    """Client sockets to the server left open: right after the client is closed, and
    after the transport's owner is done too (the ``open_balanced_transport`` block)."""

    port: int
    after_close: int = -1
    after_teardown: int = -1


@asynccontextmanager
async def open_transport(flavour: Flavour, kind: Kind) -> AsyncIterator[Any]:
    """``None`` for "plain" (the library builds its own transport), else a balanced
    transport of ``flavour``, open for the block."""
    if kind == "plain":
        yield None
        return
    module: Any = trio_pool.httpx if flavour == "httpx" else trio_pool.httpx2
    async with module.open_balanced_transport(_itself) as transport:
        yield transport


@asynccontextmanager
async def open_client(
    flavour: Flavour, kind: Kind, sockets: Sockets, **kwargs: Any
) -> AsyncIterator[Any]:
    """An ``httpx.AsyncClient`` or ``httpx2.AsyncClient`` over the ``kind`` transport;
    closed at the end of the block, when ``sockets`` are counted."""
    async with open_transport(flavour, kind) as transport:
        if transport is not None:
            kwargs["transport"] = transport
        client = _library(flavour).AsyncClient(**kwargs)
        try:
            yield client
        finally:
            await client.aclose()
            sockets.after_close = client_sockets(sockets.port, LEFT_OPEN)
    sockets.after_teardown = client_sockets(sockets.port, LEFT_OPEN)


@attrs.frozen
class Outcome:
    result: str
    """The status code, or the exception's type name."""
    hits: int
    """Requests the server received."""
    left_open: int
    """Client sockets to the server still open after teardown."""


def _result(error: BaseException | None, status: int | None = None) -> str:
    if error is None:
        return str(status)
    if isinstance(error, openai.APIStatusError):
        return f"{type(error).__name__}({error.status_code})"
    return type(error).__name__


def _params(*, flavours: list[Flavour] = FLAVOURS) -> list[Any]:
    """``(flavour, kind)`` parameters."""
    return [
        pytest.param(flavour, kind, id=f"{flavour}-{kind}")
        for flavour in flavours
        for kind in KINDS
    ]


# -- openai ------------------------------------------------------------------------------

CHAT: Route = ("POST", "/v1/chat/completions")
MODELS: Route = ("GET", "/v1/models")

JSON = {"content-type": "application/json"}
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()


def _error(status: int) -> bytes:
    return json.dumps(
        {"error": {"message": f"status {status}", "type": "test", "code": None}}
    ).encode()


def _chunk(content: str) -> bytes:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


OK = Reply(200, JSON, COMPLETION)
MESSAGES: Any = [{"role": "user", "content": "hi"}]


@asynccontextmanager
async def open_openai(
    flavour: Flavour, kind: Kind, sockets: Sockets, base_url: str, **kwargs: Any
) -> AsyncIterator[openai.AsyncOpenAI]:
    """``openai.AsyncOpenAI`` over an ``http_client`` of ``flavour`` and ``kind``. The
    SDK accepts a legacy ``httpx.AsyncClient`` as well as an ``httpx2`` one (it checks
    ``isinstance`` against whichever of the two is imported)."""
    async with open_client(flavour, kind, sockets) as http_client:
        yield openai.AsyncOpenAI(
            base_url=f"{base_url}/v1",
            api_key="test",
            http_client=cast(httpx2.AsyncClient, http_client),
            **kwargs,
        )


async def _chat(client: openai.AsyncOpenAI) -> int:
    response = await client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=MESSAGES
    )
    completion = response.parse()
    assert completion.choices[0].message.content == "hello"
    return response.status_code


async def _run_openai(
    flavour: Flavour,
    kind: Kind,
    routes: Mapping[Route, list[Reply]],
    call: str,
    **kwargs: Any,
) -> tuple[Outcome, BaseException | None, float]:
    """One openai call (``"chat"`` or ``"models"``) against ``routes``: its outcome, its
    error (if any) and how long it took."""
    async with serve(routes) as server:
        sockets = Sockets(server.port)
        error: BaseException | None = None
        status: int | None = None
        async with open_openai(flavour, kind, sockets, server.url, **kwargs) as client:
            start = time.monotonic()
            try:
                if call == "chat":
                    status = await _chat(client)
                else:
                    response = await client.models.with_raw_response.list()
                    status = response.status_code
            except openai.OpenAIError as caught:
                error = caught
            elapsed = time.monotonic() - start
        return (
            Outcome(_result(error, status), server.total_hits, sockets.after_teardown),
            error,
            elapsed,
        )


@pytest.mark.parametrize(("flavour", "kind"), _params())
async def test_openai_chat_ok(flavour: Flavour, kind: Kind) -> None:
    outcome, _, _ = await _run_openai(flavour, kind, {CHAT: [OK]}, "chat")
    assert outcome == Outcome("200", 1, 0)


@pytest.mark.parametrize(("flavour", "kind"), _params())
async def test_openai_stream_broken_off(flavour: Flavour, kind: Kind) -> None:
    """A streamed answer whose connection closes before ``data: [DONE]``: the caller gets
    the chunks sent, then the SDK's ``APIConnectionError`` (from the library's
    ``RemoteProtocolError``: an incomplete chunked read); the connection is not kept."""
    broken = Reply(
        200,
        {"content-type": "text/event-stream"},
        chunks=[_chunk("hel"), _chunk("lo")],
        break_off=True,
    )
    library = _library(flavour)
    async with serve({CHAT: [broken]}) as server:
        sockets = Sockets(server.port)
        received: list[str] = []
        error: BaseException | None = None
        async with open_openai(flavour, kind, sockets, server.url) as client:
            stream = await client.chat.completions.create(
                model="gpt-test", messages=MESSAGES, stream=True
            )
            try:
                async for chunk in stream:
                    received.append(chunk.choices[0].delta.content or "")
            except openai.OpenAIError as caught:
                error = caught
            finally:
                await stream.close()
            await trio.lowlevel.checkpoint()
            during = client_sockets(server.port, LEFT_OPEN)
        outcome = Outcome(_result(error), server.total_hits, sockets.after_teardown)
    assert received == ["hel", "lo"]
    assert outcome == Outcome("APIConnectionError", 1, 0)
    assert isinstance(error, openai.APIConnectionError)
    assert isinstance(error.__cause__, library.RemoteProtocolError), repr(error.__cause__)
    # The broken connection is closed at once, while the client is still open.
    assert (during, sockets.after_close) == (0, 0)


@pytest.mark.parametrize("headers", ["ms", "ms+seconds"])
@pytest.mark.parametrize(("flavour", "kind"), _params())
async def test_openai_429_then_ok(flavour: Flavour, kind: Kind, headers: str) -> None:
    """A 429 then a 200: the SDK retries after ``retry-after-ms`` (which it prefers to
    ``retry-after``). With ``retry-after: 1`` too, the balanced transport must not hold
    the retry for that second: it weighs the endpoint down, never walls it off (a POST is
    not retried by the transport itself). With several endpoints, the penalty would send
    the SDK's retry to another endpoint, by design."""
    retry_after = {"retry-after-ms": "50"}
    if headers == "ms+seconds":
        retry_after["retry-after"] = "1"
    routes = {CHAT: [Reply(429, {**JSON, **retry_after}, _error(429)), OK]}
    outcome, _, elapsed = await _run_openai(flavour, kind, routes, "chat")
    assert outcome == Outcome("200", 2, 0)
    assert elapsed < 0.8


@pytest.mark.parametrize(("flavour", "kind"), _params())
async def test_openai_500s_then_ok(flavour: Flavour, kind: Kind) -> None:
    """Two 500s then a 200, ``max_retries=2``: the SDK's retries (backing off 0.5 s then
    1 s, less up to 25 % jitter) get the 200; the transport adds none (a POST, and a 500
    is not one of its retried statuses). With several endpoints, outlier detection might
    steer later requests elsewhere after five 5xx in a row, by design."""
    routes = {CHAT: [Reply(500, JSON, _error(500)), Reply(500, JSON, _error(500)), OK]}
    outcome, _, _ = await _run_openai(flavour, kind, routes, "chat", max_retries=2)
    assert outcome == Outcome("200", 3, 0)


@pytest.mark.parametrize(("flavour", "kind"), _params())
async def test_openai_get_always_503(flavour: Flavour, kind: Kind) -> None:
    """The key check: a GET that always 503s (``client.models.list()``) gives the SDK's
    ``InternalServerError`` (503) after 1 + 2 SDK retries, 3 requests in all: the
    balanced transport, whose ``HTTP_RETRY`` retries an idempotent 503 only on an
    endpoint not tried yet, adds none in front of one endpoint. With several endpoints
    it would retry each GET once on another endpoint, by design (up to 3 attempts per
    SDK attempt, within the retry budget)."""
    routes = {MODELS: [Reply(503, JSON, _error(503))]}
    outcome, error, _ = await _run_openai(flavour, kind, routes, "models", max_retries=2)
    assert outcome == Outcome("InternalServerError(503)", 3, 0)
    assert isinstance(error, openai.InternalServerError)


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(("flavour", "kind"), _params())
async def test_openai_get_always_throttled(flavour: Flavour, kind: Kind, status: int) -> None:
    """A GET answered 429 or 503 with ``retry-after-ms: 50`` and ``retry-after: 1``,
    always, ``max_retries=1``: the SDK waits 50 ms before its retry (2 requests, then its
    error); the balanced transport must neither retry the GET itself, nor hold the
    answers for the second ``retry-after`` asks (balanced today: ~2.1 s, 2 requests).
    With several endpoints it would retry each GET on another endpoint, after the
    Retry-After (up to what is left of the pool timeout), by design."""
    headers = {**JSON, "retry-after-ms": "50", "retry-after": "1"}
    routes = {MODELS: [Reply(status, headers, _error(status))]}
    outcome, _, elapsed = await _run_openai(flavour, kind, routes, "models", max_retries=1)
    name = "RateLimitError" if status == 429 else "InternalServerError"
    assert outcome == Outcome(f"{name}({status})", 2, 0)
    assert elapsed < 0.8, f"{elapsed:.2f} s"


def _methods_params() -> list[Any]:
    return [
        pytest.param(method, flavour, kind, id=f"{method}-{flavour}-{kind}")
        for method in ("GET", "POST")
        for flavour in FLAVOURS
        for kind in KINDS
    ]


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(("method", "flavour", "kind"), _methods_params())
async def test_retry_after_answer_not_held(
    method: str, flavour: Flavour, kind: Kind, status: int
) -> None:
    """The same without the SDK: one request answered 429/503 with ``Retry-After: 1``
    reaches the caller at once, sent once. With several endpoints, a GET would be retried
    on another endpoint after the Retry-After, by design."""
    route: Route = (method, "/throttled")
    reply = Reply(status, {"retry-after": "1"}, b"later")
    async with serve({route: [reply]}) as server:
        sockets = Sockets(server.port)
        async with open_client(flavour, kind, sockets) as client:
            start = time.monotonic()
            response = await client.request(method, f"{server.url}/throttled")
            elapsed = time.monotonic() - start
        outcome = Outcome(str(response.status_code), server.total_hits, sockets.after_teardown)
    assert outcome == Outcome(str(status), 1, 0)
    assert elapsed < 0.5, f"{elapsed:.2f} s"


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, not listening, held for the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize(("flavour", "kind"), _params())
async def test_openai_connection_refused(flavour: Flavour, kind: Kind, refused_port: int) -> None:
    """Nothing listens: ``APIConnectionError`` from the library's ``ConnectError``, after
    the SDK's two retries and its backoff (0.5 s + 1 s, less up to 25 % jitter: 1.125 s to
    1.5 s asleep). The balanced transport (``wait_for_ready=False``) fails each try at
    once, as httpx does, and does not retry it itself on the one endpoint. With several
    endpoints, it would retry a refused connection on another one, by design."""
    library = _library(flavour)
    sockets = Sockets(refused_port)
    url = f"http://127.0.0.1:{refused_port}"
    error: BaseException | None = None
    async with open_openai(flavour, kind, sockets, url, max_retries=2) as client:
        start = time.monotonic()
        try:
            await _chat(client)
        except openai.OpenAIError as caught:
            error = caught
        elapsed = time.monotonic() - start
    assert Outcome(_result(error), 0, sockets.after_teardown) == Outcome("APIConnectionError", 0, 0)
    assert isinstance(error, openai.APIConnectionError)
    assert isinstance(error.__cause__, library.ConnectError), repr(error.__cause__)
    assert 1.1 <= elapsed < 1.5 * 1.5, elapsed


@pytest.mark.parametrize("max_retries", [0, 1])
@pytest.mark.parametrize(("flavour", "kind"), _params())
async def test_openai_timeout(flavour: Flavour, kind: Kind, max_retries: int) -> None:
    """``timeout=0.3`` against a server that answers after 2 s: ``APITimeoutError`` (from
    the library's ``ReadTimeout``), 1 + ``max_retries`` requests; the timed-out
    connection is closed, not kept. The balanced transport does not retry a read timeout
    (the request may have been processed). With several endpoints, the same."""
    library = _library(flavour)
    routes = {CHAT: [Reply(200, JSON, COMPLETION, delay=2.0)]}
    outcome, error, elapsed = await _run_openai(
        flavour, kind, routes, "chat", timeout=0.3, max_retries=max_retries
    )
    assert outcome == Outcome("APITimeoutError", 1 + max_retries, 0)
    assert isinstance(error, openai.APITimeoutError)
    assert isinstance(error.__cause__, library.ReadTimeout), repr(error.__cause__)
    assert elapsed < 0.3 * (1 + max_retries) + 0.5 * max_retries + 0.5


# -- sockets after the client is closed ----------------------------------------------------


@pytest.mark.parametrize(("flavour", "kind"), _params())
async def test_keepalive_sockets_after_client_close(flavour: Flavour, kind: Kind) -> None:
    """After ``client.aclose()``: httpx's own transport is closed with its client, and so
    are its connections; the balanced transport outlives its clients (any number of them
    share it, until its ``open_balanced_transport`` block ends, as its documentation
    says), so its idle keep-alive connection waits for the next client, and closes with
    the block."""
    async with serve({CHAT: [OK]}) as server:
        sockets = Sockets(server.port)
        async with open_openai(flavour, kind, sockets, server.url) as client:
            assert await _chat(client) == 200
    assert sockets.after_teardown == 0
    assert sockets.after_close == (0 if kind == "plain" else 1)


# -- hishel ------------------------------------------------------------------------------


class MemoryStorage(AsyncBaseStorage):
    """An in-memory hishel storage: hishel 2.0 ships SQLite (which needs ``anysqlite``,
    not installed here) and Redis storages only. Entries never expire (tests are short)."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, list[tuple[hishel.Entry, list[bytes]]]] = {}

    async def create_entry(
        self,
        request: hishel.Request,
        response: hishel.Response,
        key: str,
        *,
        ttl: float | None = None,
        tti: float | None = None,
    ) -> hishel.Entry:
        entry_id = uuid.uuid4()
        source = response.stream
        assert source is not None
        assert hasattr(source, "__aiter__")

        async def saving() -> AsyncIterator[bytes]:
            chunks: list[bytes] = []
            async for chunk in cast(AsyncIterator[bytes], source):
                chunks.append(chunk)
                yield chunk
            stored = hishel.Entry(
                entry_id, request, hishel.Response(response.status_code, response.headers)
            )
            self.entries.setdefault(key, []).append((stored, chunks))

        return hishel.Entry(
            entry_id,
            request,
            hishel.Response(response.status_code, response.headers, saving()),
        )

    async def get_entries(self, key: str) -> list[hishel.Entry]:
        return [
            hishel.Entry(
                entry.id,
                entry.request,
                hishel.Response(
                    entry.response.status_code,
                    entry.response.headers,
                    make_async_iterator(list(chunks)),
                ),
            )
            for entry, chunks in self.entries.get(key, [])
        ]

    async def update_headers(self, id: uuid.UUID, headers: hishel.Headers) -> None:
        for entries in self.entries.values():
            for entry, _ in entries:
                if entry.id == id:
                    entry.response.headers = headers

    async def remove_entry(self, id: uuid.UUID) -> None:
        for key, entries in self.entries.items():
            self.entries[key] = [(entry, chunks) for entry, chunks in entries if entry.id != id]


CACHEABLE: Route = ("GET", "/cacheable")


@pytest.mark.parametrize("rfc", [False, True], ids=["default", "rfc9111"])
@pytest.mark.parametrize(("flavour", "kind"), _params())
async def test_hishel_cache(flavour: Flavour, kind: Kind, rfc: bool) -> None:
    """``hishel.httpx(2).AsyncCacheTransport(next_transport=...)`` over the library's
    ``AsyncHTTPTransport`` or the balanced transport: two GETs of a response with
    ``Cache-Control: max-age=60``, the second from the cache; 1 request. (Its ``aclose``
    closes ``next_transport``: a no-op for the balanced one.)"""
    library = _library(flavour)
    cache_module: Any = hishel.httpx if flavour == "httpx" else hishel.httpx2
    reply = Reply(200, {"cache-control": "max-age=60", "content-type": "text/plain"}, b"cached")
    async with serve({CACHEABLE: [reply]}) as server:
        sockets = Sockets(server.port)
        async with open_transport(flavour, kind) as balanced:
            inner = balanced if balanced is not None else library.AsyncHTTPTransport()
            cache = cache_module.AsyncCacheTransport(
                next_transport=inner, storage=MemoryStorage(), rfc=rfc
            )
            client = library.AsyncClient(transport=cache)
            try:
                first = await client.get(f"{server.url}/cacheable")
                second = await client.get(f"{server.url}/cacheable")
            finally:
                await client.aclose()
                sockets.after_close = client_sockets(server.port, LEFT_OPEN)
        sockets.after_teardown = client_sockets(server.port, LEFT_OPEN)
        outcome = Outcome(str(second.status_code), server.total_hits, sockets.after_teardown)
    assert (first.text, second.text) == ("cached", "cached")
    assert first.extensions["caching"]["from_cache"] is False
    assert second.extensions["caching"]["from_cache"] is True
    assert outcome == Outcome("200", 1, 0)


# -- httpx-sse and httpx2's own SSE ------------------------------------------------------

SSE: Route = ("GET", "/sse")
EVENTS = [b"event: greet\ndata: hello\nid: 1\n\n", b"data: multi\ndata: line\n\n", b": ping\n\n"]
EXPECTED_EVENTS = {
    # httpx-sse 0.4.3 dispatches the comment's blank line as an empty event (the last
    # event id makes it non-empty to its decoder); httpx2's decoder does not.
    "httpx-sse": [("greet", "hello", "1"), ("message", "multi\nline", "1"), ("message", "", "1")],
    "httpx2-sse": [("greet", "hello", "1"), ("message", "multi\nline", "1")],
}


def _sse_reply(*, break_off: bool = False) -> Reply:
    return Reply(200, {"content-type": "text/event-stream"}, chunks=EVENTS, break_off=break_off)


async def _read_sse(
    flavour: Flavour, kind: Kind, api: str, reply: Reply
) -> tuple[Outcome, list[tuple[str, str, str]], BaseException | None, int]:
    """Read the server's events with httpx-sse's ``aconnect_sse`` (``api="httpx-sse"``) or
    httpx2's ``client.sse`` (``api="httpx2-sse"``). Returns the outcome, the events, the
    error, and the sockets open right after the client is closed."""
    async with serve({SSE: [reply]}) as server:
        sockets = Sockets(server.port)
        events: list[tuple[str, str, str]] = []
        error: BaseException | None = None
        status: int | None = None
        async with open_client(flavour, kind, sockets) as client:
            url = f"{server.url}/sse"
            try:
                if api == "httpx-sse":
                    # Typed for httpx, duck-typed enough for an httpx2 client.
                    async with httpx_sse.aconnect_sse(client, "GET", url) as source:
                        status = source.response.status_code
                        async for event in source.aiter_sse():
                            events.append((event.event, event.data, event.id))
                else:
                    async with client.sse(url) as source:
                        status = source.response.status_code
                        async for event in source:
                            events.append((event.event, event.data, event.id))
            except (httpx.HTTPError, httpx2.HTTPError, httpx_sse.SSEError) as caught:
                error = caught
        outcome = Outcome(_result(error, status), server.total_hits, sockets.after_teardown)
    return outcome, events, error, sockets.after_close


def _sse_params() -> list[Any]:
    """httpx-sse over either flavour (it is typed for httpx, and duck-typed enough for an
    httpx2 client); ``client.sse()``, httpx2's own, over httpx2."""
    return [
        pytest.param(api, flavour, kind, id=f"{api}-{flavour}-{kind}")
        for api, flavours in (("httpx-sse", FLAVOURS), ("httpx2-sse", ["httpx2"]))
        for flavour in flavours
        for kind in KINDS
    ]


@pytest.mark.parametrize(("api", "flavour", "kind"), _sse_params())
async def test_sse_events(api: str, flavour: Flavour, kind: Kind) -> None:
    outcome, events, _, _ = await _read_sse(flavour, kind, api, _sse_reply())
    assert events == EXPECTED_EVENTS[api]
    assert outcome == Outcome("200", 1, 0)


@pytest.mark.parametrize(("api", "flavour", "kind"), _sse_params())
async def test_sse_broken_off(api: str, flavour: Flavour, kind: Kind) -> None:
    """The event stream's connection closes mid-body: the events sent, then the
    library's ``RemoteProtocolError``; no socket left, even before teardown."""
    outcome, events, error, after_close = await _read_sse(
        flavour, kind, api, _sse_reply(break_off=True)
    )
    assert events == EXPECTED_EVENTS[api]
    assert outcome == Outcome("RemoteProtocolError", 1, 0)
    assert isinstance(error, _library(flavour).RemoteProtocolError)
    assert after_close == 0


# -- gql ---------------------------------------------------------------------------------

GRAPHQL: Route = ("POST", "/graphql")


async def _run_gql(kind: Kind, reply: Reply) -> tuple[Outcome, Any, BaseException | None]:
    """A gql query through ``HTTPXAsyncTransport``: it builds ``httpx2.AsyncClient(**kwargs)``
    (gql 4 imports httpx2 when it is installed), so the balanced transport is the httpx2
    flavour's, passed as ``transport=``."""
    async with serve({GRAPHQL: [reply]}) as server:
        sockets = Sockets(server.port)
        result: Any = None
        error: BaseException | None = None
        async with open_transport("httpx2", kind) as balanced:
            kwargs = {} if balanced is None else {"transport": balanced}
            gql_transport = HTTPXAsyncTransport(url=f"{server.url}/graphql", **kwargs)
            try:
                async with gql.Client(transport=gql_transport) as session:
                    result = await session.execute(gql.gql("query { hello }"))
            except TransportError as caught:
                error = caught
            sockets.after_close = client_sockets(server.port, LEFT_OPEN)
        sockets.after_teardown = client_sockets(server.port, LEFT_OPEN)
        outcome = Outcome(_result(error, 200), server.total_hits, sockets.after_teardown)
    return outcome, result, error


@pytest.mark.parametrize(("flavour", "kind"), _params(flavours=["httpx2"]))
async def test_gql_query(flavour: Flavour, kind: Kind) -> None:
    reply = Reply(200, JSON, json.dumps({"data": {"hello": "world"}}).encode())
    outcome, result, _ = await _run_gql(kind, reply)
    assert result == {"hello": "world"}
    assert outcome == Outcome("200", 1, 0)


@pytest.mark.parametrize(("flavour", "kind"), _params(flavours=["httpx2"]))
async def test_gql_server_error(flavour: Flavour, kind: Kind) -> None:
    """A 500 (the POST is not retried, by the transport or by gql): gql's
    ``TransportServerError`` with code 500."""
    reply = Reply(500, {"content-type": "text/plain"}, b"boom")
    outcome, _, error = await _run_gql(kind, reply)
    assert outcome == Outcome("TransportServerError", 1, 0)
    assert isinstance(error, TransportServerError)
    assert error.code == 500
