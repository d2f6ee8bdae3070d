"""`open_balanced_transport`: an httpx transport that balances each authority over its endpoints."""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import attrs
import httpx
import trio

from .._nursery import raise_single
from .._pool import P2CPool, PeakEwma, Pool
from .._queue import PoolQueue
from .._validate import check_seconds
from ._authority import Resolve, authority_of, discovery_for
from ._balancer import Balancer
from ._endpoint import Address, EndpointFactory, EndpointOptions, HttpEndpoint
from ._errors import BalancerClosedError, map_pool_errors
from ._stream import ReleasingStream

__all__ = [
    "BalancedTransport",
    "NewEndpoint",
    "NewPool",
    "TransportStatistics",
    "open_balanced_transport",
]

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
"""httpx's default connection limits, which apply to each endpoint."""

NewEndpoint: TypeAlias = Callable[[Address, Any], HttpEndpoint]
"""The endpoint factory that a ``new_pool`` receives: ``new_endpoint(address, target)``."""

NewPool: TypeAlias = Callable[[NewEndpoint], Pool[Address, Any, httpx.Request, httpx.Response]]
"""Makes the pool of one authority around its endpoint factory."""


def _default_pool(
    new_endpoint: NewEndpoint,
) -> P2CPool[Address, Any, httpx.Request, httpx.Response]:
    return P2CPool(new_endpoint, load=PeakEwma())


@attrs.frozen
class TransportStatistics:
    """A snapshot of a balanced transport, from `BalancedTransport.statistics`."""

    authorities: tuple[str, ...]
    """The authorities that have a balancer now, sorted."""
    active: int
    """Requests in progress through those balancers, each counted until its response
    (body included) is closed."""


@attrs.define(eq=False)
class BalancedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request to an endpoint of its authority.

    Made by `open_balanced_transport`; pass it to ``httpx.AsyncClient(transport=...)``.
    Any number of clients and tasks may share it. It lives as long as the
    ``open_balanced_transport`` block: closing a client that uses it does not close it.
    """

    _resolve: Resolve
    _nursery: trio.Nursery
    _new_pool: NewPool
    _options: EndpointOptions
    _capacity: int
    _failfast_timeout: float
    _idle_timeout: float
    _connect_retries: int
    _balancers: dict[str, Balancer] = attrs.field(factory=dict, init=False)
    _closed: bool = attrs.field(default=False, init=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its authority's balancer.

        Raises:
            BalancerFailFastError: no endpoint of the authority was ready in time.
            BalancerClosedError: the authority's queue, or the transport, is closed.
            UnknownAuthorityError: ``resolve`` knows no discovery for the authority.
            httpx.TransportError: the endpoint's own error, as httpx raises it.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise BalancerClosedError("the balanced transport is closed", request=request)
        authority = authority_of(request.url)
        balancer = self._balancers.get(authority)
        if balancer is None:
            balancer = self._open(authority, request)
        balancer.enter()
        try:
            queue = balancer.queue
            if queue is None:
                queue = await balancer.wait_queue(request)
            response = await self._send(queue, request)
        except BaseException:
            balancer.exit()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = ReleasingStream(response.stream, balancer.exit)
        return response

    async def _send(
        self, queue: PoolQueue[httpx.Request, httpx.Response], request: httpx.Request
    ) -> httpx.Response:
        # A request that could not connect was not sent, whatever its method: it is safe
        # to try it on another endpoint. The endpoint that failed is in backoff by then.
        retries = self._connect_retries
        while True:
            try:
                with map_pool_errors(request):
                    return await queue.call(request)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if not retries:
                    raise
                retries -= 1

    def _open(self, authority: str, request: httpx.Request) -> Balancer:
        discovery = discovery_for(self._resolve, authority, request)
        idle_timeout = self._idle_timeout
        # A one-shot stream (a generator, a memory channel) from a mapping could not
        # feed a second balancer: this one stays for good, even once closed.
        one_shot = isinstance(self._resolve, Mapping) and aiter(discovery) is discovery
        if one_shot:
            idle_timeout = math.inf
        pool = self._new_pool(EndpointFactory(self._options))
        balancer = Balancer(
            authority,
            pool,
            discovery,
            self._capacity,
            self._failfast_timeout,
            idle_timeout,
            self._forget,
            one_shot,
        )
        self._balancers[authority] = balancer
        self._nursery.start_soon(balancer.run, name=f"trio_pool.httpx balancer {authority}")
        return balancer

    def _forget(self, balancer: Balancer) -> None:
        if self._balancers.get(balancer.authority) is balancer:
            del self._balancers[balancer.authority]

    def statistics(self) -> TransportStatistics:
        """A snapshot of the transport's balancers."""
        balancers = self._balancers.values()
        return TransportStatistics(
            authorities=tuple(sorted(self._balancers)),
            active=sum(b.active for b in balancers),
        )

    async def aclose(self) -> None:
        """Do nothing: the transport closes when the ``open_balanced_transport`` block ends.

        ``httpx.AsyncClient`` calls this when the client is closed; other clients may
        still be using the transport.
        """
        await trio.lowlevel.checkpoint()

    def _close(self) -> None:
        self._closed = True


@asynccontextmanager
async def open_balanced_transport(
    resolve: Resolve,
    *,
    verify: ssl.SSLContext | bool = True,
    trust_env: bool = True,
    http1: bool = True,
    http2: bool = False,
    limits: httpx.Limits = DEFAULT_LIMITS,
    failfast_timeout: float = 3.0,
    idle_timeout: float = 300.0,
    capacity: int = 100,
    connect_retries: int = 2,
    max_retry_after: float = 300.0,
    probe_timeout: float = 5.0,
    failure_statuses: Collection[int] = range(500, 600),
    new_pool: NewPool | None = None,
) -> AsyncIterator[BalancedTransport]:
    """Open an httpx transport that balances each authority over its discovered endpoints.

    ::

        async with open_balanced_transport({"api.test": discovery}) as transport:
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.get("https://api.test/users")

    The *authority* of a request is its URL's host, plus ``:port`` when the URL names a
    port other than the scheme's default (see `authority_of`). ``resolve`` gives each
    authority its discovery stream, an async iterable of `trio_pool.Update` over
    ``(host, port)`` addresses: either a callable ``resolve(authority)`` or a mapping from
    authority to stream. It is called on the first request for an authority, in that
    request's task; a ``LookupError`` from it (a missing key) fails the request with
    `UnknownAuthorityError`.

    Each authority gets a balancer: a `trio_pool.open_pool_queue` over a pool of its own
    (``new_pool(new_endpoint)``, by default ``P2CPool(new_endpoint, load=PeakEwma())``),
    started in the transport's nursery on its first request and closed once no request
    has used it for ``idle_timeout`` seconds; a later request starts a new one, calling
    ``resolve`` again. A stream that can be iterated only once (an async generator, a
    memory channel) cannot feed a second balancer: from a mapping, its balancer is
    never closed for idleness; from a callable, return a fresh stream on each call.

    Each request goes to an endpoint the pool picks. The URL is rewritten to the
    endpoint's address; the ``Host`` header stays the logical authority; for HTTPS the
    TLS server name and the certificate check use the logical host, never the address.
    Each endpoint is an ``httpx.AsyncHTTPTransport`` of its own, per authority and
    address, so a connection is never reused for another logical name.

    A request counts against its endpoint's load from the moment it is bound until its
    response is closed, streamed bodies included; Peak-EWMA measures the latency to the
    response headers. Close streamed responses (``async with client.stream(...)``): one
    left open keeps its endpoint counted busy, as it keeps its connection in httpx.

    Args:
        resolve: authority -> discovery stream, a callable or a mapping.
        verify: ``True`` (the system's CA store via certifi), ``False`` (no check, as
            in httpx), or an ``ssl.SSLContext`` (trust your own CA, add a client
            certificate). Built once and shared by every endpoint.
        trust_env: with ``verify=True``, honour ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``.
        http1: whether endpoints may speak HTTP/1.1.
        http2: whether endpoints may speak HTTP/2, negotiated with ALPN over TLS; needs
            the ``h2`` package (``pip install httpx[http2]``).
        limits: connection limits *per endpoint*.
        failfast_timeout: a request waits at most this long for a ready endpoint of its
            authority; then it, and every request until an endpoint is ready again,
            fails with `BalancerFailFastError`.
        idle_timeout: seconds without a request after which an authority's balancer is
            closed (Trio time); ``math.inf`` keeps them all.
        capacity: requests that may wait in each authority's queue before callers wait
            for room.
        connect_retries: how many more endpoints a request tries when its endpoint could
            not connect (``httpx.ConnectError``, ``httpx.ConnectTimeout``). Such a
            request was not sent, so any method is safe to retry.
        max_retry_after: the longest a ``429`` or ``503`` response's ``Retry-After``
            keeps its endpoint out of use, in seconds.
        probe_timeout: how long the TCP probe of an endpoint that failed to connect may
            take before it is tried again.
        failure_statuses: responses with these statuses (by default every 5xx) count as
            failed calls for their endpoint's load, so that with Peak-EWMA an endpoint
            that answers errors quickly does not look fast and draw traffic. The
            response still reaches the caller. A ``429`` or ``503`` with ``Retry-After``
            is penalised by that instead. Pass ``()`` to count every answer alike.
        new_pool: ``new_pool(new_endpoint) -> Pool``, to choose another pool or load,
            say ``lambda new: trio_pool.P2CPool(new, load=trio_pool.PendingRequests())``.
            The shipped pools call an endpoint's ``call_leased`` and so count a response
            until its body is closed; a pool that calls ``call`` stops at the headers,
            and may close an evicted endpoint while a body is still being read.

    Errors: `BalancerFailFastError` and `BalancerClosedError` are ``httpx.TransportError``
    subclasses (and `trio_pool.PoolError` ones) with the queue's error as ``__cause__``;
    an endpoint's own errors are httpx's, unwrapped.

    Leaving the block closes every balancer, its endpoints and their connections, and
    leaves no task behind; requests still in progress fail, and later ones raise
    `BalancerClosedError`.
    """
    options = _check_options(
        verify=verify,
        trust_env=trust_env,
        http1=http1,
        http2=http2,
        limits=limits,
        max_retry_after=max_retry_after,
        probe_timeout=probe_timeout,
        failure_statuses=failure_statuses,
    )
    failfast_timeout = check_seconds("failfast_timeout", failfast_timeout, infinite=True)
    idle_timeout = check_seconds("idle_timeout", idle_timeout, infinite=True)
    for name, count in (("capacity", capacity), ("connect_retries", connect_retries)):
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"{name} must be an int, got {count!r}")
        if count < 0:
            raise ValueError(f"{name} must be >= 0, got {count}")
    if new_pool is not None and not callable(new_pool):
        raise TypeError(f"new_pool must be callable, got {type(new_pool).__name__}")
    if not callable(resolve) and not isinstance(resolve, Mapping):
        raise TypeError(f"resolve must be a callable or a mapping, got {type(resolve).__name__}")
    try:
        async with trio.open_nursery() as nursery:
            transport = BalancedTransport(
                resolve,
                nursery,
                new_pool if new_pool is not None else _default_pool,
                options,
                capacity,
                failfast_timeout,
                idle_timeout,
                connect_retries,
            )
            try:
                yield transport
            finally:
                transport._close()
                nursery.cancel_scope.cancel(reason="the open_balanced_transport block was left")
    except BaseExceptionGroup as group:
        raise_single(group)


def _check_options(
    *,
    verify: ssl.SSLContext | bool,
    trust_env: bool,
    http1: bool,
    http2: bool,
    limits: httpx.Limits,
    max_retry_after: float,
    probe_timeout: float,
    failure_statuses: Collection[int],
) -> EndpointOptions:
    if not isinstance(verify, ssl.SSLContext | bool):
        raise TypeError(f"verify must be a bool or an ssl.SSLContext, got {verify!r}")
    if not isinstance(limits, httpx.Limits):
        raise TypeError(f"limits must be an httpx.Limits, got {limits!r}")
    if not (http1 or http2):
        raise ValueError("at least one of http1 and http2 must be enabled")
    if http2:
        try:
            import h2  # noqa: F401, PLC0415
        except ImportError:
            raise ImportError("http2=True needs the h2 package: pip install httpx[http2]") from None
    return EndpointOptions(
        ssl_context=httpx.create_ssl_context(verify=verify, trust_env=trust_env),
        http1=http1,
        http2=http2,
        limits=limits,
        max_retry_after=check_seconds("max_retry_after", max_retry_after, infinite=True),
        probe_timeout=check_seconds("probe_timeout", probe_timeout),
        failure_statuses=_check_statuses(failure_statuses),
    )


def _check_statuses(statuses: Collection[int]) -> frozenset[int]:
    if isinstance(statuses, str | bytes) or not isinstance(statuses, Collection):
        raise TypeError(f"failure_statuses must be a collection of ints, got {statuses!r}")
    checked = frozenset(statuses)
    for status in checked:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status < 600:
            raise ValueError(f"failure_statuses must hold HTTP statuses, got {status!r}")
    return checked
