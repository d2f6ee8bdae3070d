"""Which balancer a request belongs to: its `Authority`, and that authority's discovery.

An authority is what a URL names before its path: scheme, host and port, the scheme's
default port filled in. ``http://api`` and ``https://api`` are two authorities, each with
a balancer of its own and its own call to ``resolve``, so that each is dialed on its own
port. The transport finds a request's balancer by a cheap key of its URL, and makes the
`Authority` (validating it) only on a miss, so a request to a known authority pays
nothing for the validation.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Mapping
from typing import TypeAlias

import attrs

from .._update import Update
from ._errors import UnknownAuthorityError
from ._flavour import httpx

__all__ = ["DEFAULT_PORTS", "Authority", "AuthorityKey", "Resolve", "discovery_for", "key_of"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
"""The schemes the transport takes (httpcore's), and the port each one implies."""

_TLS_SCHEMES = frozenset({"https", "wss"})

AuthorityKey: TypeAlias = tuple[str, bytes, int | None]
"""What the transport files balancers under: a URL's scheme, raw host and port."""


def key_of(url: httpx.URL) -> AuthorityKey:
    """The cheap key of ``url``'s authority: no decoding, no validation."""
    return url.scheme, url.raw_host, url.port


def _check_scheme(instance: Authority, attribute: attrs.Attribute[str], scheme: str) -> None:
    if scheme not in DEFAULT_PORTS:
        raise ValueError(
            f"an authority's scheme is one of {', '.join(DEFAULT_PORTS)}, got {scheme!r}"
        )


def _check_host(instance: Authority, attribute: attrs.Attribute[str], host: str) -> None:
    if not isinstance(host, str) or not host:
        raise ValueError(f"an authority needs a host, got {host!r}")


def _check_port(instance: Authority, attribute: attrs.Attribute[int], port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"an authority's port must be an int, got {port!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"an authority's port must be within 0-65535, got {port}")


def _default_port(authority: Authority) -> int:
    return DEFAULT_PORTS.get(authority.scheme, 0)


def _lower(text: str) -> str:
    return text.lower() if isinstance(text, str) else text


@attrs.frozen(cache_hash=True)
class Authority:
    """The logical destination of a request: scheme, host and port.

    ``Authority("https", "api.test")`` has port 443: the scheme's default port is filled
    in (80 for ``http`` and ``ws``, 443 for ``https`` and ``wss``). ``str()`` gives
    ``host:port`` (``api.test:443``, ``[::1]:8080``), which is what a mapping passed as
    ``resolve`` is keyed by; a callable ``resolve`` gets the `Authority` itself, so it
    can tell ``http://api`` from ``https://api`` (two authorities, two balancers).

    The host is in httpx's normalized form: lower case, internationalized names in
    Unicode, IPv6 literals without brackets. `from_url` makes one from a URL.
    """

    scheme: str = attrs.field(converter=_lower, validator=_check_scheme)
    """``http``, ``https``, ``ws`` or ``wss``."""
    host: str = attrs.field(converter=_lower, validator=_check_host)
    port: int = attrs.field(
        default=attrs.Factory(_default_port, takes_self=True), validator=_check_port
    )

    @classmethod
    def from_url(cls, url: httpx.URL) -> Authority:
        """The authority of ``url``.

        Raises ``httpx.UnsupportedProtocol``, with httpx's own words, for a URL without
        a scheme or a host, or with a scheme other than http, https, ws or wss.
        """
        scheme = url.scheme
        if not scheme or not url.raw_host:
            raise httpx.UnsupportedProtocol(
                "Request URL is missing an 'http://' or 'https://' protocol."
            )
        if scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme}://'."
            )
        port = url.port
        return cls(scheme, url.host, DEFAULT_PORTS[scheme] if port is None else port)

    @property
    def tls(self) -> bool:
        """Whether requests to this authority speak TLS (``https``, ``wss``)."""
        return self.scheme in _TLS_SCHEMES

    @property
    def origin(self) -> str:
        """``scheme://host:port``, as errors and logs name the authority."""
        return f"{self.scheme}://{self}"

    def __str__(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{self.port}"


Resolve: TypeAlias = (
    Callable[[Authority], AsyncIterable[Update]] | Mapping[str, AsyncIterable[Update]]
)
"""What ``open_balanced_transport`` takes to find an authority's discovery stream: a
callable ``resolve(authority)`` given the `Authority`, or a mapping keyed by
``str(authority)`` (``"api.test:443"``)."""


def discovery_for(
    resolve: Resolve, authority: Authority, request: httpx.Request
) -> AsyncIterable[Update]:
    """``resolve``'s discovery stream for ``authority``.

    Raises:
        UnknownAuthorityError: ``resolve`` raised a ``LookupError`` (a mapping lacks it).
        TypeError: ``resolve`` returned something that is not an async iterable.
    """
    try:
        discovery = resolve[str(authority)] if isinstance(resolve, Mapping) else resolve(authority)
    except LookupError as exc:
        raise UnknownAuthorityError(_unknown(resolve, authority), request=request) from exc
    if not isinstance(discovery, AsyncIterable):
        raise TypeError(
            f"resolve({authority!s}) must give an async iterable of updates, "
            f"got {type(discovery).__name__}"
        )
    return discovery


def _unknown(resolve: Resolve, authority: Authority) -> str:
    message = f"no discovery stream for the authority {authority.origin}"
    if not isinstance(resolve, Mapping):
        return f"{message}: resolve({authority!r}) raised a LookupError"
    message += f": the mapping has no key {str(authority)!r}"
    if authority.host in resolve:
        # Keys were the bare host before authorities carried their port.
        message += f" (it has {authority.host!r}: the keys are host:port, as str(Authority) gives)"
    return message
