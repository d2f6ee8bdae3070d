"""`HttpEndpoint`: one backend address of one authority, over its own httpx transport.

Each endpoint owns an ``httpx.AsyncHTTPTransport`` (so a connection pool) of its own,
whose connections are all dialed to the endpoint's address (`Dialer`), and an
authority's pool makes its own endpoints: a pooled connection only ever carries requests
for the logical name it was opened for, with that name as its TLS server name. The
request itself goes down unchanged, with the URL its caller wrote.

Readiness tells the pool what the endpoint learned from its requests:

- a request that could not connect (``httpx.ConnectError``, ``httpx.ConnectTimeout``)
  marks the endpoint failed: its next readiness check raises, and the pool puts it in
  backoff and later re-creates it. The re-created endpoint proves the address reachable
  with a TCP connection before it takes requests, so a dead backend costs one connection
  attempt per backoff period, and its backoff grows;
- a ``429`` or ``503`` response with ``Retry-After`` weighs the endpoint down in its
  pool for that long (at most ``max_retry_after``), through the call's `Lease`; it stays
  ready, and the response goes back to the caller unchanged.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Collection, Hashable
from typing import Any, TypeAlias

import attrs
import trio

from .._metrics import disabled
from .._pool import Lease, PoolMetrics
from .._update import Update
from ._authority import Authority
from ._connections import ConnectionPool
from ._dial import Dialer
from ._discovery import leaving
from ._errors import root_cause
from ._flavour import NAME, httpcore, httpx
from ._metrics import AuthorityMeter, EndpointMetrics
from ._retry_after import retry_after_delay
from ._stream import release_when_closed

__all__ = [
    "Address",
    "EndpointFactory",
    "EndpointOptions",
    "FailedStatus",
    "HttpEndpoint",
    "wedged",
]

Address: TypeAlias = tuple[str, int]
"""An endpoint's address, as discovery yields it: ``(host, port)``."""

# The statuses whose Retry-After penalises the endpoint that sent them.
_THROTTLED = frozenset({429, 503})


class FailedStatus(Exception):
    """An answer whose status counts as a failure (``failure_statuses``: a 5xx): what
    an endpoint's statistics show as its last call error. The caller gets the response
    itself, never this."""


class _Done:
    """What closing a metered response does: it is no longer in flight, and its lease
    (if any) is released."""

    __slots__ = ("_in_flight", "_lease")

    def __init__(self, in_flight: Any, lease: Lease | None) -> None:
        self._in_flight = in_flight
        self._lease = lease

    def __call__(self) -> None:
        self._in_flight.dec()
        if self._lease is not None:
            self._lease.release()


def _with_host(request: httpx.Request) -> httpx.Request:
    """A copy of ``request`` with the ``Host`` header of its URL: a request built with
    ``stream=`` has none, which HTTP/1.1 requires (httpx's own transport sends it so,
    and fails)."""
    headers = request.headers.copy()
    headers["Host"] = request.url.netloc.decode("ascii")
    return httpx.Request(
        request.method,
        request.url,
        headers=headers,
        stream=request.stream,
        extensions=request.extensions,
    )


def wedged(error: BaseException) -> bool:
    """Whether ``error`` says an HTTP/2 connection can open no more streams, which h2
    says before it sends anything (so the request may go elsewhere, whatever it is)."""
    return isinstance(error, httpx.LocalProtocolError) and "Max outbound streams" in str(error)


def _same(address: Hashable) -> Any:
    return address


def _check_address(address: Hashable) -> Address:
    if (
        not isinstance(address, tuple)
        or len(address) != 2
        or not isinstance(address[0], str)
        or isinstance(address[1], bool)
        or not isinstance(address[1], int)
    ):
        raise TypeError(
            f"an {NAME} endpoint's address must be (host: str, port: int), got {address!r}"
        )
    host, port = address
    if not host or not 0 < port < 65536:
        raise ValueError(
            f"an {NAME} endpoint's address needs a host and a port in 1-65535, got {address!r}"
        )
    return host, port


@attrs.frozen
class EndpointOptions:
    """How every endpoint of a transport connects; set by `open_balanced_transport`."""

    ssl_context: ssl.SSLContext
    """Shared by every endpoint: building one per endpoint would load the CA store each time."""
    http1: bool
    http2: bool
    limits: httpx.Limits
    """Per endpoint: each has a connection pool of its own."""
    max_retry_after: float
    """The longest penalty a ``Retry-After`` imposes, in seconds."""
    probe_timeout: float
    """How long the TCP probe of a re-created endpoint may take, in seconds."""
    failure_statuses: Collection[int] = frozenset(range(500, 600))
    """Response statuses that count as failed calls for the endpoint's load."""

    def transport(self, address: Address) -> httpx.AsyncHTTPTransport:
        """An httpx transport whose connections are all dialed to ``address``."""
        transport = httpx.AsyncHTTPTransport(
            verify=self.ssl_context, http1=self.http1, http2=self.http2, limits=self.limits
        )
        if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError(
                f"this {type(transport).__module__} keeps no httpcore connection pool in its "
                "transport's _pool: trio_pool cannot dial endpoints through it"
            )
        limits = self.limits
        # httpx's transport takes no network backend; its connection pool does. The pool
        # it built is replaced, unused, by one that dials the endpoint and resets the
        # HTTP/2 streams its callers abandon.
        transport._pool = ConnectionPool(
            ssl_context=self.ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=self.http1,
            http2=self.http2,
            network_backend=Dialer(*address),
        )
        return transport


@attrs.define(eq=False)
class HttpEndpoint:
    """One backend address of one authority: the endpoint the transport's pools balance over.

    ``call(request)`` sends a request for the logical authority to this address: the
    request keeps its URL, ``Host`` header and extensions; its connection is dialed to
    the address, and for HTTPS the TLS server name (SNI) and the certificate check use
    the logical host, never the address (a request's own ``sni_hostname`` extension
    wins, as with httpx's own transport).

    ``call_leased(request, lease)`` does the same and releases ``lease`` when the
    response is closed, so that a pool counts the request in flight until its body has
    been read. ``ready()``, ``ready_nowait()`` and ``aclose()`` complete the endpoint
    protocol. Made by the transport's endpoint factory; a ``new_pool`` passed to
    `open_balanced_transport` receives that factory.
    """

    address: Address
    _transport: httpx.AsyncBaseTransport
    _options: EndpointOptions
    # Addresses of this authority whose last connection attempt failed: shared with the
    # factory, so that the endpoint re-created at such an address probes it first.
    _suspects: set[Address]
    _probe: bool = attrs.field(default=False, kw_only=True)
    _metrics: EndpointMetrics = attrs.field(factory=EndpointMetrics.disabled, kw_only=True)
    _metered: bool = attrs.field(init=False)
    _failure: Exception | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._metered = self._metrics.in_flight is not disabled

    # -- readiness ------------------------------------------------------------------------

    def ready_nowait(self) -> None:
        """Return if the endpoint can take a request now.

        Raises:
            ConnectionError: a request could not connect; the pool re-creates the endpoint.
            trio.WouldBlock: a probe is due.
        """
        if self._failure is not None:
            raise self._failure_error()
        if self._probe:
            raise trio.WouldBlock

    async def ready(self) -> None:
        """Return once the endpoint can take a request: at once, or after its probe.

        Raises:
            ConnectionError: a request could not connect.
            OSError, trio.TooSlowError: the probe could not connect.
        """
        if self._failure is not None:
            await trio.lowlevel.checkpoint()
            raise self._failure_error()
        if self._probe:
            await self._probe_address()
            self._probe = False
            self._suspects.discard(self.address)
        await trio.lowlevel.checkpoint()

    async def _probe_address(self) -> None:
        host, port = self.address
        with trio.fail_after(self._options.probe_timeout):
            stream = await trio.open_tcp_stream(host, port)
        await stream.aclose()

    def _failure_error(self) -> ConnectionError:
        host, port = self.address
        # httpx's message is often empty (a broken TLS stream); the root cause says more.
        root = root_cause(self._failure) if self._failure is not None else None
        what = (
            "its connection was wedged"
            if isinstance(self._failure, httpx.LocalProtocolError)
            else "a request could not connect"
        )
        error = ConnectionError(f"{host}:{port}: {what}: {root!r}")
        error.__cause__ = self._failure
        return error

    # -- calls ----------------------------------------------------------------------------

    async def call(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``, meant for the logical authority, to this address."""
        return await self._send(request, None)

    async def call_leased(self, request: httpx.Request, lease: Lease) -> httpx.Response:
        """`call`, releasing ``lease`` when the response (body included) is closed."""
        return await self._send(request, lease)

    async def _send(self, request: httpx.Request, lease: Lease | None) -> httpx.Response:
        metrics = self._metrics
        # Reading the clock twice a request costs more than the flag: only when counted.
        metered = self._metered
        if metered:
            metrics.requests.inc()
            metrics.in_flight.inc()
            started = trio.current_time()
        try:
            response = await self._transport.handle_async_request(
                request if "host" in request.headers else _with_host(request)
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            metrics.in_flight.dec()
            metrics.failures.inc()
            if self._failure is None:
                self._failure = exc
                self._suspects.add(self.address)
            raise
        except httpx.LocalProtocolError as exc:
            metrics.in_flight.dec()
            metrics.failures.inc()
            if self._failure is None and wedged(exc):
                # An HTTP/2 connection whose streams leaked (see ConnectionPool): the
                # endpoint is made anew, with fresh connections, and not probed.
                self._failure = exc
            raise
        except Exception:
            metrics.in_flight.dec()
            metrics.failures.inc()
            raise
        except BaseException:
            metrics.in_flight.dec()  # cancelled: the caller's doing, not the endpoint's
            raise
        if metered:
            metrics.latency.observe(trio.current_time() - started)
        # The retry policy judges an answer by its request's method; httpx's client
        # sets it again when the response reaches it.
        response.request = request
        status = response.status_code
        if status in _THROTTLED and lease is not None:
            lease.retry_after = self._penalty(response.headers.get("retry-after"))
        if self._is_failure(response):
            metrics.failures.inc()
            if lease is not None:
                # An error answered quickly must not make the endpoint look fast.
                lease.failed = True
                reason = response.reason_phrase or httpx.codes.get_reason_phrase(status)
                lease.failure = FailedStatus(f"{status} {reason}".rstrip())
        if metered:
            release_when_closed(response, _Done(metrics.in_flight, lease))
        elif lease is not None:
            release_when_closed(response, lease.release)
        return response

    def _is_failure(self, response: httpx.Response) -> bool:
        # A throttling answer with a Retry-After has its own penalty (the endpoint weighs
        # less until then); counting it as a failure too would eject it for far longer.
        if response.status_code in _THROTTLED and "retry-after" in response.headers:
            return False
        return response.status_code in self._options.failure_statuses

    def _penalty(self, retry_after: str | None) -> float | None:
        delay = retry_after_delay(retry_after, time.time())
        if delay is None or delay <= 0:
            return None
        return min(delay, self._options.max_retry_after)

    async def aclose(self) -> None:
        """Close the endpoint's connections."""
        await self._transport.aclose()


@attrs.define(eq=False)
class EndpointFactory:
    """``new_endpoint(address, target)`` for one authority's pool: what a ``new_pool``
    passed to `open_balanced_transport` receives.

    ``address`` is ``(host, port)``; ``target`` (discovery's metadata) is not used, though
    a changed target still rebuilds the endpoint, as for any pool. A ``new_pool`` that
    makes a pool of its own passes it `pool_metrics`, so that the pool counts in the
    transport's metrics: ``P2CPool(new_endpoint, metrics=new_endpoint.pool_metrics)``.
    """

    _options: EndpointOptions
    authority: Authority | None = None
    """The authority whose endpoints this makes."""
    _meter: AuthorityMeter = attrs.field(factory=AuthorityMeter.disabled)
    # Addresses whose latest connection attempt failed, while discovery keeps them.
    _suspects: set[Address] = attrs.field(factory=set, init=False)

    @property
    def pool_metrics(self) -> PoolMetrics:
        """The pool metrics of the authority (`trio_pool.PoolMetrics`, which count
        nothing when the transport has no ``metrics``)."""
        return self._meter.pool

    def updated(self, update: Update) -> None:
        """Discovery yielded ``update``: forget the addresses it removes, so that an
        address refused once and gone is not remembered for good."""
        for address in leaving(update, self._suspects, _same):
            self._suspects.discard(address)

    def __call__(self, address: Hashable, target: object) -> HttpEndpoint:
        checked = _check_address(address)
        return HttpEndpoint(
            checked,
            self._options.transport(checked),
            self._options,
            self._suspects,
            probe=checked in self._suspects,
            metrics=self._meter.endpoint(checked),
        )
