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
from collections.abc import Hashable
from typing import Any, TypeAlias

import attrs
import httpx
import trio

from .._pool import Lease
from ._retry_after import retry_after_delay
from ._stream import ReleasingStream
from ._url import UrlRewriter

__all__ = ["Address", "EndpointFactory", "EndpointOptions", "HttpEndpoint"]

Address: TypeAlias = tuple[str, int]
"""An endpoint's address, as discovery yields it: ``(host, port)``."""

# The statuses whose Retry-After penalises the endpoint that sent them.
_THROTTLED = frozenset({429, 503})


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
    extension, which this replaces if the request has one).

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
    _rewrite: UrlRewriter = attrs.field(init=False)
    _failure: Exception | None = attrs.field(default=None, init=False)
    _penalised_until: float | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._rewrite = UrlRewriter(*self.address)

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
        outbound = self._outbound(request)
        try:
            response = await self._transport.handle_async_request(outbound)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if self._failure is None:
                self._failure = exc
                self._suspects.add(self.address)
            raise
        if response.status_code in _THROTTLED:
            self._penalise(response.headers.get("retry-after"))
        return response

    def _is_failure(self, response: httpx.Response) -> bool:
        # A throttling answer with a Retry-After has its own penalty (the endpoint is out
        # until then); counting it as a failure too would keep it out far longer.
        if response.status_code in _THROTTLED and "retry-after" in response.headers:
            return False
        return response.status_code in self._options.failure_statuses

    async def call_leased(self, request: httpx.Request, lease: Lease) -> httpx.Response:
        """`call`, releasing ``lease`` when the response (body included) is closed."""
        response = await self.call(request)
        if self._is_failure(response):
            # An error answered quickly must not make the endpoint look fast.
            lease.failed = True
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = ReleasingStream(response.stream, lease.release)
        return response

    def _outbound(self, request: httpx.Request) -> httpx.Request:
        url = request.url
        headers = request.headers
        if "host" not in headers:
            # A request built with stream= has no automatic Host header; the URL is
            # about to lose the logical name, so put it here now.
            headers = headers.copy()
            headers["Host"] = url.netloc.decode("ascii")
        extensions: dict[str, Any] = request.extensions
        if url.scheme == "https":
            extensions = {**extensions, "sni_hostname": url.raw_host.decode("ascii")}
        return httpx.Request(
            request.method,
            self._rewrite(url),
            headers=headers,
            stream=request.stream,
            extensions=extensions,
        )

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
    """``new_endpoint(address, target)`` for one authority's pool.

    ``address`` is ``(host, port)``; ``target`` (discovery's metadata) is not used, though
    a changed target still rebuilds the endpoint, as for any pool.
    """

    _options: EndpointOptions
    _suspects: set[Address] = attrs.field(factory=set, init=False)

    def __call__(self, address: Hashable, target: object) -> HttpEndpoint:
        checked = _check_address(address)
        return HttpEndpoint(
            checked,
            self._options.transport(),
            self._options,
            self._suspects,
            probe=checked in self._suspects,
        )
