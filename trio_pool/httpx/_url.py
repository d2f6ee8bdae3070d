"""`UrlRewriter`: a request's URL, moved to an endpoint's host and port.

``httpx.URL.copy_with`` re-parses and re-validates the whole URL, which costs as much as
a fifth of what the balancer adds to a request. A URL's parsed form is an immutable
named tuple, so swapping its host and port is enough; that form is private to httpx, so
the fast way is used only if, when this module loads, it gives exactly what
``copy_with`` gives, and ``copy_with`` is used otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import httpx

__all__ = ["UrlRewriter"]


# The ports that httpx normalizes away, as copy_with() does.
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


def _swap(url: httpx.URL, host: str, port: int) -> httpx.URL:
    reference = url._uri_reference
    rewritten = httpx.URL.__new__(httpx.URL)
    rewritten._uri_reference = reference._replace(
        host=host, port=None if _DEFAULT_PORTS.get(reference.scheme) == port else port
    )
    return rewritten


def _copy(url: httpx.URL, host: str, port: int) -> httpx.URL:
    return url.copy_with(host=host, port=port)


def _fastest() -> Callable[[httpx.URL, str, int], httpx.URL]:
    samples = [
        ("https://user:pw@api.test/a%20b/c?q=1&r=%2F#frag", "10.0.0.1", 8443),
        ("http://bücher.test:8080/", "::1", 80),
        ("http://api.test", "backend-1.internal", 8080),
        ("https://api.test:8443/", "10.0.0.2", 443),
    ]
    try:
        for url, host, port in samples:
            swapped, copied = _swap(httpx.URL(url), host, port), _copy(httpx.URL(url), host, port)
            if str(swapped) != str(copied) or swapped.port != copied.port:
                return _copy
    except Exception:
        return _copy
    return _swap


_rewrite = _fastest()


def _normalized_host(host: str) -> str:
    return httpx.URL(scheme="http", host=host).raw_host.decode("ascii")


@attrs.frozen
class UrlRewriter:
    """Moves URLs to ``host`` (any form httpx accepts) and ``port``, keeping the rest."""

    host: str = attrs.field(converter=_normalized_host)
    """The host, normalized as httpx stores it: lower case, IDNA, IPv6 without brackets."""
    port: int

    def __call__(self, url: httpx.URL) -> httpx.URL:
        return _rewrite(url, self.host, self.port)
