"""`HttpEndpoint`: one backend address of one authority, over its own httpx transport.

Each endpoint owns an ``httpx.AsyncHTTPTransport`` (so a connection pool) of its own, and
an authority's pool makes its own endpoints, so a pooled connection only ever carries
requests for the logical name it was opened for, with that name as its TLS server name.

Readiness tells the pool what the endpoint learned from its requests:

- a request that could not connect (``httpx.ConnectError``, ``httpx.ConnectTimeout``)
  marks the endpoint failed: its next readiness check raises, and the pool puts it in
  backoff and later re-creates it. The re-created endpoint proves the address reachable
  with a TCP connection before it takes requests, so a dead backend costs one connection
  attempt per backoff period, and its backoff grows;
- a ``429`` or ``503`` response with ``Retry-After`` makes it not ready for that long
  (at most ``max_retry_after``); the response itself goes back to the caller unchanged.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeAlias

import attrs
import httpx
import trio

from .._metrics import disabled
from .._pool import Lease, PoolMetrics
from ._authority import Authority
from ._metrics import AuthorityMeter, EndpointMetrics
from ._retry_after import retry_after_delay
from ._stream import release_when_closed
from ._url import UrlRewriter

__all__ = ["Address", "EndpointFactory", "EndpointOptions", "HttpEndpoint"]

Address: TypeAlias = tuple[str, int]
"""An endpoint's address, as discovery yields it: ``(host, port)``."""

# The statuses whose Retry-After penalises the endpoint that sent them.
_THROTTLED = frozenset({429, 503})
_TLS_SCHEMES = frozenset({"https", "wss"})


def _build_request(
    request: httpx.Request, url: httpx.URL, headers: httpx.Headers, extensions: dict[str, Any]
) -> httpx.Request:
    return httpx.Request(
        request.method, url, headers=headers, stream=request.stream, extensions=extensions
    )


def _clone_request(
    request: httpx.Request, url: httpx.URL, headers: httpx.Headers, extensions: dict[str, Any]
) -> httpx.Request:
    # Building a Request copies and re-checks its headers; the caller's request is
    # valid already, so a copy of its attributes with three of them replaced is enough.
    clone = httpx.Request.__new__(httpx.Request)
    clone.__dict__.update(request.__dict__)
    clone.url = url
    clone.headers = headers
    clone.extensions = extensions
    return clone


def _fastest_copy() -> Callable[
    [httpx.Request, httpx.URL, httpx.Headers, dict[str, Any]], httpx.Request
]:
    """`_clone_request` if, when this module loads, it gives what building one gives;
    else `_build_request` (the attributes of a Request are httpx's to change)."""
    try:
        original = httpx.Request(
            "POST", "https://api.test/a?b=1", headers={"x-a": "1"}, content=b"body"
        )
        url = httpx.URL("https://10.0.0.1:8443/a?b=1")
        extensions = {"sni_hostname": "api.test"}
        built = _build_request(original, url, original.headers, extensions)
        cloned = _clone_request(original, url, original.headers, extensions)
        # The clone keeps a body already read (_content); the rest must match.
        same = (
            vars(built).keys() <= vars(cloned).keys() <= {*vars(built), "_content"}
            and built.method == cloned.method
            and built.url == cloned.url
            and list(built.headers.raw) == list(cloned.headers.raw)
            and built.extensions == cloned.extensions
            and built.stream is cloned.stream
            and built.read() == cloned.read()
        )
    except Exception:
        return _build_request
    return _clone_request if same else _build_request


_copy_request = _fastest_copy()


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


def _check_address(address: Hashable) -> Address:
    if (
        not isinstance(address, tuple)
        or len(address) != 2
        or not isinstance(address[0], str)
        or isinstance(address[1], bool)
        or not isinstance(address[1], int)
    ):
        raise TypeError(
            f"an httpx endpoint's address must be (host: str, port: int), got {address!r}"
        )
    host, port = address
    if not host or not 0 < port < 65536:
        raise ValueError(
            f"an httpx endpoint's address needs a host and a port in 1-65535, got {address!r}"
        )
    return host, port


def _root_cause(error: BaseException) -> BaseException:
    """The deepest error behind ``error``.

    httpcore re-raises its errors ``from None`` with the original as the argument, so
    the chain is followed through ``__cause__``, ``__context__`` and an error argument.
    """
    seen = {id(error)}
    while True:
        behind = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if behind is None and error.args and isinstance(error.args[0], BaseException):
            behind = error.args[0]
        if behind is None or id(behind) in seen:
            return error
        seen.add(id(behind))
        error = behind


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
    failure_statuses: frozenset[int] = frozenset(range(500, 600))
    """Response statuses that count as failed calls for the endpoint's load."""

    def transport(self) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(
            verify=self.ssl_context, http1=self.http1, http2=self.http2, limits=self.limits
        )


@attrs.define(eq=False)
class HttpEndpoint:
    """One backend address of one authority: the endpoint the transport's pools balance over.

    ``call(request)`` sends a request for the logical authority to this address: the
    URL's host and port become the address's, while the ``Host`` header stays the
    logical authority, and for HTTPS the TLS server name (SNI) and the certificate
    check use the logical host, never the address (httpcore's ``sni_hostname``
    extension; a request that sets its own keeps it, as with httpx's own transport).

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
    _rewrite: UrlRewriter = attrs.field(init=False)
    _failure: Exception | None = attrs.field(default=None, init=False)
    _penalised_until: float | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._rewrite = UrlRewriter(*self.address)
        self._metered = self._metrics.in_flight is not disabled

    # -- readiness ------------------------------------------------------------------------

    def ready_nowait(self) -> None:
        """Return if the endpoint can take a request now.

        Raises:
            ConnectionError: a request could not connect; the pool re-creates the endpoint.
            trio.WouldBlock: a ``Retry-After`` penalty runs, or a probe is due.
        """
        if self._failure is not None:
            raise self._failure_error()
        if self._probe:
            raise trio.WouldBlock
        until = self._penalised_until
        if until is not None:
            if trio.current_time() < until:
                raise trio.WouldBlock
            self._penalised_until = None

    async def ready(self) -> None:
        """Return once the endpoint can take a request: after its probe, after a penalty.

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
        while (until := self._penalised_until) is not None:
            if trio.current_time() >= until:
                self._penalised_until = None
                break
            await trio.sleep_until(until)
        await trio.lowlevel.checkpoint()

    async def _probe_address(self) -> None:
        host, port = self.address
        with trio.fail_after(self._options.probe_timeout):
            stream = await trio.open_tcp_stream(host, port)
        await stream.aclose()

    def _failure_error(self) -> ConnectionError:
        host, port = self.address
        # httpx's message is often empty (a broken TLS stream); the root cause says more.
        root = _root_cause(self._failure) if self._failure is not None else None
        error = ConnectionError(f"{host}:{port}: a request could not connect: {root!r}")
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
        outbound = self._outbound(request)
        metrics = self._metrics
        # Reading the clock twice a request costs more than the flag: only when counted.
        metered = self._metered
        if metered:
            metrics.requests.inc()
            metrics.in_flight.inc()
            started = trio.current_time()
        try:
            response = await self._transport.handle_async_request(outbound)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            metrics.in_flight.dec()
            metrics.failures.inc()
            if self._failure is None:
                self._failure = exc
                self._suspects.add(self.address)
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
        if status in _THROTTLED:
            self._penalise(response.headers.get("retry-after"))
        if self._is_failure(response):
            metrics.failures.inc()
            if lease is not None:
                # An error answered quickly must not make the endpoint look fast.
                lease.failed = True
        if metered:
            release_when_closed(response, _Done(metrics.in_flight, lease))
        elif lease is not None:
            release_when_closed(response, lease.release)
        return response

    def _is_failure(self, response: httpx.Response) -> bool:
        # A throttling answer with a Retry-After has its own penalty (the endpoint is out
        # until then); counting it as a failure too would keep it out far longer.
        if response.status_code in _THROTTLED and "retry-after" in response.headers:
            return False
        return response.status_code in self._options.failure_statuses

    def _outbound(self, request: httpx.Request) -> httpx.Request:
        url = request.url
        headers = request.headers
        if "host" not in headers:
            # A request built with stream= has no automatic Host header; the URL is
            # about to lose the logical name, so put it here now.
            headers = headers.copy()
            headers["Host"] = url.netloc.decode("ascii")
        extensions: dict[str, Any] = request.extensions
        if url.scheme in _TLS_SCHEMES and "sni_hostname" not in extensions:
            extensions = {**extensions, "sni_hostname": url.raw_host.decode("ascii")}
        return _copy_request(request, self._rewrite(url), headers, extensions)

    def _penalise(self, retry_after: str | None) -> None:
        delay = retry_after_delay(retry_after, time.time())
        if delay is None or delay <= 0:
            return
        until = trio.current_time() + min(delay, self._options.max_retry_after)
        if self._penalised_until is None or until > self._penalised_until:
            self._penalised_until = until

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
    _suspects: set[Address] = attrs.field(factory=set, init=False)

    @property
    def pool_metrics(self) -> PoolMetrics:
        """The pool metrics of the authority (`trio_pool.PoolMetrics`, which count
        nothing when the transport has no ``metrics``)."""
        return self._meter.pool

    def __call__(self, address: Hashable, target: object) -> HttpEndpoint:
        checked = _check_address(address)
        return HttpEndpoint(
            checked,
            self._options.transport(),
            self._options,
            self._suspects,
            probe=checked in self._suspects,
            metrics=self._meter.endpoint(checked),
        )
