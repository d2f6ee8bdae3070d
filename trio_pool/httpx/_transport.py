"""`open_balanced_transport`: an httpx transport that balances each authority over its endpoints."""

from __future__ import annotations

import math
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, SupportsIndex, TypeAlias, overload

import attrs
import trio

from .._errors import PoolError
from .._nursery import raise_single
from .._pool import (
    EndpointStatistics,
    OutlierDetection,
    P2CPool,
    PeakEwma,
    Pool,
    PoolStatistics,
    SlowStart,
)
from .._queue import PoolQueue, PoolQueueStatistics
from .._resilience import Hedging, RetryPolicy
from .._runtime import require_trio
from .._update import Update
from .._validate import check_flag, check_seconds
from ._authority import Authority, AuthorityKey, Resolve, discovery_for, key_of
from ._balancer import Balancer
from ._discovery import WatchedDiscovery
from ._endpoint import Address, EndpointFactory, EndpointOptions
from ._errors import BalancerClosedError, map_pool_error
from ._flavour import NAME, httpx
from ._metrics import TransportMeter, TransportMetricFamilies, TransportMetrics
from ._proxy import check_client_proxies
from ._retry import HTTP_RETRY, guard_hedging, guard_retry, http_retry, track_body
from ._stream import release_when_closed

__all__ = [
    "AuthorityStatistics",
    "AuthorityTable",
    "BalancedTransport",
    "NewEndpoint",
    "NewPool",
    "TransportStatistics",
    "open_balanced_transport",
]

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
"""httpx's default connection limits, which apply to each endpoint."""

NewEndpoint: TypeAlias = EndpointFactory
"""The endpoint factory that a ``new_pool`` receives: ``new_endpoint(address, target)``,
with ``new_endpoint.pool_metrics`` for the pool it makes."""

NewPool: TypeAlias = Callable[[NewEndpoint], Pool[Address, Any, httpx.Request, httpx.Response]]
"""Makes the pool of one authority around its endpoint factory."""

# A pool timeout of 0 means "do not wait"; the queue takes only positive timeouts.
_NO_WAIT = 1e-9


HTTP_OUTLIER_DETECTION = OutlierDetection(
    consecutive_failures=5,
    failure_percentage=0.5,
    interval=10.0,
    base_ejection=30.0,
    max_ejection=300.0,
    max_ejected_percent=0.1,
    min_requests=50,
)
"""The transport's default outlier detection: Envoy's HTTP defaults (five 5xx or
connection failures in a row, 30 s doubling up to 300 s, a tenth of the endpoints at
most), and an endpoint that failed more than half of at least 50 calls in 10 s."""

HTTP_SLOW_START = SlowStart(window=30.0, aggression=1.0, min_weight=0.1)
"""The transport's default slow start: a new endpoint's share ramps up linearly over
30 s, from a tenth, so a backend that just started warms its caches and connection pools
before it takes its full share."""


def _default_pool(outlier: OutlierDetection | None, slow_start: SlowStart | None) -> NewPool:
    def new_pool(new_endpoint: NewEndpoint) -> P2CPool[Address, Any, httpx.Request, httpx.Response]:
        return P2CPool(
            new_endpoint,
            load=PeakEwma(),
            metrics=new_endpoint.pool_metrics,
            outlier=outlier,
            slow_start=slow_start,
        )

    return new_pool


@attrs.frozen
class AuthorityStatistics:
    """One authority's balancer, in `TransportStatistics`."""

    authority: Authority
    active: int
    """Requests using the balancer, each until its response (body included) is closed."""
    queue: PoolQueueStatistics | None
    """Its queue's state (``None`` for the moment its queue is starting)."""
    pool: PoolStatistics | None
    """Its endpoints counted by state, its last endpoint error (``None`` for a pool
    without ``statistics()``)."""
    endpoints: tuple[EndpointStatistics, ...]
    """Each endpoint: address, state, load estimate, calls in flight, failures in a row,
    last error (empty for a pool without ``endpoint_statistics()``)."""


class AuthorityTable(tuple[AuthorityStatistics, ...]):
    """The authorities of `TransportStatistics`: a tuple, that is also looked up by
    authority: ``authorities["api.test:443"]`` (its ``str()``), ``authorities[
    "https://api.test:443"]`` (its origin) or ``authorities[Authority(...)]``, and
    ``"api.test:443" in authorities``."""

    __slots__ = ()

    def find(self, key: Authority | str) -> AuthorityStatistics | None:
        """The statistics of the authority ``key`` names, or ``None``."""
        for statistics in self:
            authority = statistics.authority
            if key == authority or key == str(authority) or key == authority.origin:
                return statistics
        return None

    @overload
    def __getitem__(self, key: SupportsIndex) -> AuthorityStatistics: ...

    @overload
    def __getitem__(self, key: slice) -> tuple[AuthorityStatistics, ...]: ...

    @overload
    def __getitem__(self, key: Authority | str) -> AuthorityStatistics: ...

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, Authority | str):
            found = self.find(key)
            if found is None:
                raise KeyError(key)
            return found
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, Authority | str):
            return self.find(key) is not None
        return super().__contains__(key)


@attrs.frozen
class TransportStatistics:
    """A snapshot of a balanced transport, from `BalancedTransport.statistics`."""

    authorities: AuthorityTable
    """The authorities that have a balancer now, sorted by host, port and scheme; look
    one up by its ``str()`` or its origin: ``authorities["api.test:443"]``."""

    @property
    def active(self) -> int:
        """Requests in progress through the transport, each counted until its response
        (body included) is closed."""
        return sum(authority.active for authority in self.authorities)

    def get(self, authority: Authority | str) -> AuthorityStatistics | None:
        """The statistics of ``authority``: an `Authority`, its ``str()``
        (``"api.test:443"``) or its origin (``"https://api.test:443"``); ``None`` if
        it has no balancer now (for a ``str()`` that two schemes share, the first)."""
        return self.authorities.find(authority)


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
    _wait_for_ready: bool
    # Both guarded already (guard_retry, guard_hedging): HTTP's rules on top.
    _retry: RetryPolicy | None
    _hedging: Hedging | None
    _meter: TransportMeter = attrs.field(factory=lambda: TransportMeter(None))
    _balancers: dict[Authority, Balancer] = attrs.field(factory=dict, init=False)
    # Each URL key (scheme, raw host, port as written) seen for a balancer: what a
    # request is routed by without building and validating its Authority again.
    _routes: dict[AuthorityKey, Balancer] = attrs.field(factory=dict, init=False)
    _route_keys: dict[Balancer, list[AuthorityKey]] = attrs.field(factory=dict, init=False)
    # One-shot streams from a mapping, each feeding one balancer.
    _one_shot_streams: dict[int, tuple[object, Balancer]] = attrs.field(factory=dict, init=False)
    _closed: bool = attrs.field(default=False, init=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its authority's balancer.

        Raises:
            httpx.UnsupportedProtocol: the URL has no scheme or host, or a scheme other
                than http, https, ws, wss (before ``resolve`` is asked anything).
            BalancerFailFastError: no endpoint of the authority could be reached.
            BalancerPoolTimeout: no endpoint took the request within its pool timeout.
            BalancerClosedError: the authority's queue, or the transport, is closed.
            UnknownAuthorityError: ``resolve`` knows no discovery for the authority.
            httpx.TransportError: the endpoint's own error, as httpx raises it.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise BalancerClosedError("the balanced transport is closed", request=request)
        url = request.url
        balancer = self._routes.get((url.scheme, url.raw_host, url.port))
        if balancer is None:
            balancer = await self._route(request)
        balancer.enter()
        try:
            queue = balancer.queue
            if queue is None:
                queue = await balancer.wait_queue(request)
            response = await self._send(balancer, queue, request)
        except BaseException:
            balancer.exit()
            raise
        release_when_closed(response, balancer.exit)
        return response

    async def _send(
        self,
        balancer: Balancer,
        queue: PoolQueue[httpx.Request, httpx.Response],
        request: httpx.Request,
    ) -> httpx.Response:
        # The request's pool timeout bounds its wait for an endpoint, as it bounds the
        # wait for a connection in httpx's own transport; with retries, the queue makes
        # it bound the waits of every attempt together, the delays between them included.
        timeouts = request.extensions.get("timeout")
        pool_timeout = timeouts.get("pool") if isinstance(timeouts, dict) else None
        if pool_timeout is not None:
            pool_timeout = max(float(pool_timeout), _NO_WAIT)
        # A body that is not in memory is sent through a copy that notes whether it was
        # read, so that a retry knows whether it can be sent again.
        sent = request if self._retry is None else track_body(request)
        try:
            response = await queue.call(sent, dispatch_timeout=pool_timeout)
        except PoolError as exc:
            mapped = map_pool_error(exc, balancer.authority.origin, request)
            raise mapped from mapped.__cause__
        if sent is not request:
            response.request = request  # the caller's, not the copy that went out
        return response

    async def _route(self, request: httpx.Request) -> Balancer:
        """The balancer of a URL key seen for the first time: its authority's, opened now
        if it has none."""
        url = request.url
        try:
            authority = Authority.from_url(url)
        except httpx.UnsupportedProtocol as exc:
            await trio.lowlevel.checkpoint()
            exc.request = request
            raise
        balancer = self._balancers.get(authority)
        if balancer is None:
            balancer = self._open(authority, request)
        key = key_of(url)
        self._routes[key] = balancer
        self._route_keys[balancer].append(key)
        return balancer

    def _open(self, authority: Authority, request: httpx.Request) -> Balancer:
        discovery = discovery_for(self._resolve, authority, request)
        idle_timeout = self._idle_timeout
        # A one-shot stream (a generator, a memory channel) from a mapping could not
        # feed a second balancer: this one stays for good, even once closed.
        one_shot = isinstance(self._resolve, Mapping) and aiter(discovery) is discovery
        if one_shot:
            idle_timeout = math.inf
            feeding = self._one_shot_streams.get(id(discovery))
            if feeding is not None and feeding[0] is discovery:
                raise TypeError(
                    f"resolve[{str(authority)!r}] is a one-shot stream that already feeds "
                    f"the balancer of {feeding[1].authority.origin}; one stream can feed "
                    "one balancer only: give each authority a stream of its own, or make "
                    "resolve a function that returns a fresh stream on each call"
                )
        source = discovery
        meter = self._meter.authority(authority)
        factory = EndpointFactory(self._options, authority, meter)
        # Each update, before the pool applies it: what is kept about addresses it
        # removes goes (the factory's marks; the meter's series, if it counts).
        discovery = WatchedDiscovery(
            discovery,
            _Both(factory.updated, meter.updated) if self._meter.enabled else factory.updated,
        )
        pool = self._new_pool(factory)
        balancer = Balancer(
            authority,
            pool,
            discovery,
            self._capacity,
            self._failfast_timeout,
            idle_timeout,
            self._forget,
            one_shot,
            meter,
            retry=self._retry,
            hedging=self._hedging,
            wait_for_ready=self._wait_for_ready,
        )
        if one_shot:
            self._one_shot_streams[id(source)] = (source, balancer)
        self._balancers[authority] = balancer
        self._route_keys[balancer] = []
        self._nursery.start_soon(balancer.run, name=f"trio_pool.{NAME} balancer {authority.origin}")
        return balancer

    def _forget(self, balancer: Balancer) -> None:
        if self._balancers.get(balancer.authority) is balancer:
            del self._balancers[balancer.authority]
        for key in self._route_keys.pop(balancer, ()):
            if self._routes.get(key) is balancer:
                del self._routes[key]
        for stream_id, (_, feeding) in list(self._one_shot_streams.items()):
            if feeding is balancer:
                del self._one_shot_streams[stream_id]
        balancer.meter.close()

    def statistics(self) -> TransportStatistics:
        """A snapshot of the transport: each authority's queue and endpoints."""
        return TransportStatistics(
            authorities=AuthorityTable(
                _authority_statistics(balancer)
                for _, balancer in sorted(
                    self._balancers.items(),
                    key=lambda item: (item[0].host, item[0].port, item[0].scheme),
                )
            )
        )

    async def __aenter__(self) -> BalancedTransport:
        """What ``async with httpx.AsyncClient(transport=...)`` calls: checks that no
        proxy of the client bypasses the transport for a whole scheme.

        Raises:
            ValueError: the client's ``proxy=`` (or a proxy mount) would take every
                request of a scheme before this transport sees it.
        """
        check_client_proxies(self, sys._getframe(1))
        await trio.lowlevel.checkpoint()
        return self

    async def aclose(self) -> None:
        """Do nothing: the transport closes when the ``open_balanced_transport`` block ends.

        ``httpx.AsyncClient`` calls this when the client is closed; other clients may
        still be using the transport.
        """
        await trio.lowlevel.checkpoint()

    def _close(self) -> None:
        self._closed = True


def _authority_statistics(balancer: Balancer) -> AuthorityStatistics:
    pool = balancer.pool
    statistics = getattr(pool, "statistics", None)
    endpoint_statistics = getattr(pool, "endpoint_statistics", None)
    snapshot = statistics() if callable(statistics) else None
    endpoints = endpoint_statistics() if callable(endpoint_statistics) else ()
    return AuthorityStatistics(
        authority=balancer.authority,
        active=balancer.active,
        queue=balancer.queue.statistics() if balancer.queue is not None else None,
        pool=snapshot if isinstance(snapshot, PoolStatistics) else None,
        endpoints=tuple(e for e in endpoints if isinstance(e, EndpointStatistics)),
    )


_NOT_A_TRANSPORT = (
    "open_balanced_transport(...) gives an async context manager, not a transport: "
    "open it with `async with open_balanced_transport(...) as transport:` and pass "
    "that to httpx.AsyncClient(transport=transport)"
)


@attrs.define(eq=False)
class _OpenBalancedTransport(AbstractAsyncContextManager[BalancedTransport]):
    """What `open_balanced_transport` returns: ``async with`` it for the transport.

    Passed to ``httpx.AsyncClient(transport=...)`` by mistake, it says so on the first
    request, rather than failing on an attribute an httpx transport has.
    """

    _open: Callable[[], AbstractAsyncContextManager[BalancedTransport]]
    _opened: AbstractAsyncContextManager[BalancedTransport] | None = None

    async def __aenter__(self) -> BalancedTransport:
        if self._opened is not None:
            raise RuntimeError("an open_balanced_transport(...) context is entered once")
        require_trio("open_balanced_transport()")
        self._opened = self._open()
        return await self._opened.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._opened is not None, "__aexit__ follows __aenter__"
        return await self._opened.__aexit__(exc_type, exc_value, traceback)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise TypeError(_NOT_A_TRANSPORT)

    async def aclose(self) -> None:
        """Nothing to close: what ``httpx.AsyncClient.aclose`` calls on its transport."""


def open_balanced_transport(
    resolve: Resolve,
    *,
    verify: ssl.SSLContext | bool = True,
    trust_env: bool = True,
    http1: bool = True,
    http2: bool = False,
    limits: httpx.Limits = DEFAULT_LIMITS,
    failfast_timeout: float = 3.0,
    wait_for_ready: bool = False,
    idle_timeout: float = 300.0,
    capacity: int = 100,
    retry: RetryPolicy | None = HTTP_RETRY,
    hedging: Hedging | None = None,
    connect_retries: int | None = None,
    max_retry_after: float = 300.0,
    probe_timeout: float = 5.0,
    failure_statuses: Collection[int] = range(500, 600),
    new_pool: NewPool | None = None,
    metrics: TransportMetricFamilies | TransportMetrics | None = None,
    outlier: OutlierDetection | None = HTTP_OUTLIER_DETECTION,
    slow_start: SlowStart | None = HTTP_SLOW_START,
) -> AbstractAsyncContextManager[BalancedTransport]:
    """Open an httpx transport that balances each authority over its discovered endpoints.

    ::

        async with open_balanced_transport({"api.test:443": discovery}) as transport:
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.get("https://api.test/users")

    The *authority* of a request is the `Authority` of its URL: scheme, host and port,
    the scheme's default port filled in, so ``http://api.test`` and ``https://api.test``
    are two authorities. ``resolve`` gives each authority its discovery stream, an async
    iterable of `trio_pool.Update` over ``(host, port)`` addresses: either a callable
    ``resolve(authority)``, given the `Authority`, or a mapping keyed by
    ``str(authority)`` (``"api.test:443"``). It is called on the first request for an
    authority, in that request's task; a ``LookupError`` from it (a missing key) fails
    the request with `UnknownAuthorityError`. A URL without a scheme or a host, or with
    a scheme other than http, https, ws or wss, raises ``httpx.UnsupportedProtocol``
    before ``resolve`` is asked anything, as with httpx's own transport.

    Each authority gets a balancer: a `trio_pool.open_pool_queue` over a pool of its own
    (``new_pool(new_endpoint)``, by default a `trio_pool.P2CPool` over Peak-EWMA with
    ``outlier`` and ``slow_start``),
    started in the transport's nursery on its first request and closed once no request
    has used it for ``idle_timeout`` seconds; a later request starts a new one, calling
    ``resolve`` again. A stream that can be iterated only once (an async generator, a
    memory channel) cannot feed a second balancer: from a mapping, its balancer is
    never closed for idleness; from a callable, return a fresh stream on each call.

    Each request goes to an endpoint the pool picks. The URL is rewritten to the
    endpoint's address; the ``Host`` header stays the logical authority; for HTTPS the
    TLS server name and the certificate check use the logical host, never the address
    (a request's own ``sni_hostname`` extension wins). Each endpoint is an
    ``httpx.AsyncHTTPTransport`` of its own, per authority and address, so a
    connection is never reused for another logical name.

    A request waits for an endpoint at most its ``pool`` timeout (httpx's
    ``Timeout(pool=...)``, 5 s by default), then fails with `BalancerPoolTimeout`, an
    ``httpx.PoolTimeout``; when no endpoint of the authority has been ready for
    ``failfast_timeout``, requests fail with `BalancerFailFastError`, an
    ``httpx.ConnectError`` that names the authority, its endpoints by state and the
    last endpoint error.

    Retries and hedges (``retry``, ``hedging``) send a request again only where HTTP
    says it is safe. By default (`HTTP_RETRY`): a request that could not connect (it
    never reached a server) is retried on another endpoint whatever its method; a 429,
    502, 503 or 504 answer only for an idempotent method (GET, HEAD, OPTIONS, PUT,
    DELETE, TRACE); a ``Retry-After`` is waited before the retry, unless it asks for
    more than ``max_retry_after`` or than what is left of the request's pool timeout,
    and then the caller gets that response. Whatever the policy, a body is sent again
    only if it can be (in memory, or a stream not read yet), and only idempotent
    requests with a body in memory are hedged. A response that is retried, or loses a
    race, is closed; when no retry is left, or the authority's budget refuses one, the
    caller gets the last response or error, as it would without retries.

    A request counts against its endpoint's load from the moment it is bound until its
    response is closed, streamed bodies included; Peak-EWMA measures the latency to the
    response headers. Close streamed responses (``async with client.stream(...)``): one
    left open keeps its endpoint counted busy, as it keeps its connection in httpx.

    Proxies are not supported: the transport dials the endpoints discovery finds. As
    with any transport passed to httpx, the proxy environment variables do not apply;
    a client whose ``proxy=`` would take every request before the transport sees it
    raises ``ValueError`` when it is entered (``async with client``).

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
        failfast_timeout: when no endpoint of an authority has been ready for this
            long while a request waited, it, and every request until an endpoint is
            ready again, fails with `BalancerFailFastError`.
        idle_timeout: seconds without a request after which an authority's balancer is
            closed (Trio time); ``math.inf`` keeps them all.
        capacity: requests that may wait in each authority's queue before callers wait
            for room.
        retry: the `trio_pool.RetryPolicy` of every request, by default `HTTP_RETRY`
            (``http_retry()``: three attempts in all, within a ``RetryBudget()`` whose
            balance each authority keeps for itself); build another with `http_retry`
            to keep HTTP's rules. ``None``: each request is sent once.
        hedging: a `trio_pool.Hedging`, which applies to idempotent requests with a
            body in memory only; ``None`` (the default): no hedges.
        connect_retries: a shorthand kept from before ``retry``: retry only the
            requests that could not connect, on up to this many more endpoints; the
            same as ``retry=http_retry(attempts=connect_retries + 1, statuses=())``.
            Not with ``retry``.
        max_retry_after: the longest a ``429`` or ``503`` response's ``Retry-After``
            keeps its endpoint out of use, and the longest one a retry waits for, in
            seconds.
        probe_timeout: how long the TCP probe of an endpoint that failed to connect may
            take before it is tried again.
        failure_statuses: responses with these statuses (by default every 5xx) count as
            failed calls for their endpoint's load, so that with Peak-EWMA an endpoint
            that answers errors quickly does not look fast and draw traffic. The
            response still reaches the caller. A ``429`` or ``503`` with ``Retry-After``
            is penalised by that instead. Pass ``()`` to count every answer alike.
        new_pool: ``new_pool(new_endpoint) -> Pool``, to choose another pool or load,
            say ``lambda new: trio_pool.P2CPool(new, load=trio_pool.PendingRequests(),
            metrics=new.pool_metrics)``. The shipped pools call an endpoint's
            ``call_leased`` and so count a response until its body is closed; a pool
            that calls ``call`` stops at the headers, and may close an evicted endpoint
            while a body is still being read.
        metrics: ``TransportMetricFamilies.register(registry)`` (or its
            ``labels(...)``): each authority's queue and pool metrics, labelled
            ``authority``, and each endpoint's, labelled ``endpoint`` too, dropped when
            the endpoint or the balancer goes. ``None``: no metrics.
        outlier: the default pool's `trio_pool.OutlierDetection`, on by default with
            `HTTP_OUTLIER_DETECTION`: an endpoint whose requests fail (a 5xx, as
            ``failure_statuses`` says, or an error) is ejected for a while. ``None``
            turns it off. Ignored with ``new_pool``: give your pool its own.
        slow_start: the default pool's `trio_pool.SlowStart`, on by default with
            `HTTP_SLOW_START`; ``None`` turns it off. Ignored with ``new_pool``.

    Errors: the transport's own are ``httpx.TransportError`` subclasses (and
    `trio_pool.PoolError` ones) with the queue's error as ``__cause__``; an endpoint's
    own errors are httpx's, unwrapped.

    Leaving the block closes every balancer, its endpoints and their connections, and
    leaves no task behind; requests still in progress fail, and later ones raise
    `BalancerClosedError`.

    Raises:
        TypeError, ValueError: a bad argument, at once (``retry`` with
            ``connect_retries``, say).
        RuntimeError: entered under asyncio (trio-pool runs under Trio).
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
    check_flag("wait_for_ready", wait_for_ready)
    idle_timeout = check_seconds("idle_timeout", idle_timeout, infinite=True)
    for name, count in (("capacity", capacity), ("connect_retries", connect_retries)):
        if name == "connect_retries" and count is None:
            continue
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"{name} must be an int, got {count!r}")
        if count < 0:
            raise ValueError(f"{name} must be >= 0, got {count}")
    retry, hedging = _check_resilience(retry, hedging, connect_retries, options.max_retry_after)
    if new_pool is not None and not callable(new_pool):
        raise TypeError(f"new_pool must be callable, got {type(new_pool).__name__}")
    if outlier is not None and not isinstance(outlier, OutlierDetection):
        raise TypeError(f"outlier must be a trio_pool.OutlierDetection, got {outlier!r}")
    if slow_start is not None and not isinstance(slow_start, SlowStart):
        raise TypeError(f"slow_start must be a trio_pool.SlowStart, got {slow_start!r}")
    if not callable(resolve) and not isinstance(resolve, Mapping):
        raise TypeError(f"resolve must be a callable or a mapping, got {type(resolve).__name__}")
    meter = TransportMeter.of(metrics)

    @asynccontextmanager
    async def opened() -> AsyncIterator[BalancedTransport]:
        meter.claim()
        try:
            async with trio.open_nursery() as nursery:
                transport = BalancedTransport(
                    resolve,
                    nursery,
                    new_pool if new_pool is not None else _default_pool(outlier, slow_start),
                    options,
                    capacity,
                    failfast_timeout,
                    idle_timeout,
                    wait_for_ready,
                    retry,
                    hedging,
                    meter,
                )
                try:
                    yield transport
                finally:
                    transport._close()
                    nursery.cancel_scope.cancel(reason="the open_balanced_transport block was left")
        except BaseExceptionGroup as group:
            raise_single(group)
        finally:
            meter.release()

    return _OpenBalancedTransport(opened)


@attrs.frozen
class _Both:
    """Shows an update to two watchers, in order."""

    first: Callable[[Update], None]
    second: Callable[[Update], None]

    def __call__(self, update: Update) -> None:
        self.first(update)
        self.second(update)


def _check_resilience(
    retry: RetryPolicy | None,
    hedging: Hedging | None,
    connect_retries: int | None,
    max_retry_after: float,
) -> tuple[RetryPolicy | None, Hedging | None]:
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a trio_pool.RetryPolicy or None, got {retry!r}")
    if hedging is not None and not isinstance(hedging, Hedging):
        raise TypeError(f"hedging must be a trio_pool.Hedging or None, got {hedging!r}")
    if connect_retries is not None:
        if retry is not HTTP_RETRY:
            raise TypeError(
                "connect_retries is a shorthand for retry=http_retry(attempts=connect_retries "
                "+ 1, statuses=()): pass one of retry= and connect_retries=, not both"
            )
        retry = http_retry(attempts=connect_retries + 1, statuses=())
    return (
        None if retry is None else guard_retry(retry, max_retry_after),
        None if hedging is None else guard_hedging(hedging),
    )


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
        raise TypeError(f"limits must be an {NAME}.Limits, got {limits!r}")
    if not (http1 or http2):
        raise ValueError("at least one of http1 and http2 must be enabled")
    if http2:
        try:
            import h2  # noqa: F401, PLC0415
        except ImportError:
            raise ImportError(
                f"http2=True needs the h2 package: pip install '{NAME}[http2]'"
            ) from None
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
