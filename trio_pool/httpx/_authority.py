"""Which balancer a request belongs to: its logical authority, and its discovery."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Mapping
from typing import TypeAlias

import httpx

from .._update import Update
from ._errors import UnknownAuthorityError

__all__ = ["Resolve", "authority_of", "discovery_for"]

Resolve: TypeAlias = Callable[[str], AsyncIterable[Update]] | Mapping[str, AsyncIterable[Update]]
"""What ``open_balanced_transport`` takes to find an authority's discovery stream."""


def authority_of(url: httpx.URL) -> str:
    """The logical authority of ``url``: its host, plus ``:port`` if the URL names one.

    The host is httpx's normalized form: lower case, internationalized names in Unicode,
    IPv6 literals in brackets. A scheme's default port (80 for http, 443 for https)
    counts as no port, as httpx normalizes it away: ``https://api.test:443/`` and
    ``https://api.test/`` are both ``"api.test"``, ``http://api.test:8080/`` is
    ``"api.test:8080"``.
    """
    host = url.host
    if ":" in host:
        host = f"[{host}]"
    port = url.port
    return host if port is None else f"{host}:{port}"


def discovery_for(
    resolve: Resolve, authority: str, request: httpx.Request
) -> AsyncIterable[Update]:
    """``resolve``'s discovery stream for ``authority``.

    Raises:
        UnknownAuthorityError: ``resolve`` raised a ``LookupError`` (a mapping lacks it).
        TypeError: ``resolve`` returned something that is not an async iterable.
    """
    try:
        discovery = resolve[authority] if isinstance(resolve, Mapping) else resolve(authority)
    except LookupError as exc:
        raise UnknownAuthorityError(
            f"no discovery stream for the authority {authority!r}", request=request
        ) from exc
    if not isinstance(discovery, AsyncIterable):
        raise TypeError(
            f"resolve({authority!r}) must give an async iterable of updates, "
            f"got {type(discovery).__name__}"
        )
    return discovery
