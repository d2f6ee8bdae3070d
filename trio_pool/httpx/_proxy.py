"""`check_client_proxies`: a clear error for a client whose proxies would bypass the
balanced transport.

The balanced transport does not support proxies: it dials the endpoints that discovery
finds. httpx, though, decides which transport a request takes *before* any transport
sees it: ``httpx.AsyncClient(transport=balanced, proxy=...)`` mounts a proxy transport
for every URL, and ``mounts={"all://": balanced}`` with ``HTTPS_PROXY`` in the
environment lets the proxy's mount win for every https URL. Every such request would
go around the balancer, to the proxy, silently. (With ``transport=``, httpx itself
ignores the proxy environment variables, as does the balanced transport.)

The one moment the transport meets its client is ``async with client``, which enters
each of the client's transports; there the transport looks at the client that enters
it and raises if a proxy shadows it wholly for a scheme. That needs what httpx keeps
private (the client's mounts, the URL patterns, a proxy transport's pool), so each is
read defensively: anything unexpected means no check, never a false alarm. A client
used without ``async with`` is not checked; the docs say so.
"""

from __future__ import annotations

import types
from typing import Any

from ._flavour import httpx

__all__ = ["check_client_proxies"]

_PROXY_POOLS = ("AsyncHTTPProxy", "AsyncSOCKSProxy")


def _is_proxy(transport: object) -> bool:
    pool = getattr(transport, "_pool", None)
    return isinstance(transport, httpx.AsyncHTTPTransport) and any(
        cls.__name__ in _PROXY_POOLS for cls in type(pool).__mro__
    )


def _covers_every_host(pattern: Any) -> bool:
    return getattr(pattern, "host", None) == "" and getattr(pattern, "port", 0) is None


def check_client_proxies(
    transport: httpx.AsyncBaseTransport, caller: types.FrameType | None
) -> None:
    """Raise ``ValueError`` if ``caller`` is an ``httpx.AsyncClient`` entering
    ``transport`` and a proxy mount takes, before it, every request of a scheme."""
    client = caller.f_locals.get("self") if caller is not None else None
    if not isinstance(client, httpx.AsyncClient):
        return
    mounts = getattr(client, "_mounts", None)
    if not isinstance(mounts, dict):
        return
    # The client tries its mounts in order (most specific first) and falls back to its
    # own transport; a route of ours is shadowed by a proxy that comes first and takes
    # every host of a scheme.
    routes: list[Any] = [pattern for pattern, mounted in mounts.items() if mounted is transport]
    if getattr(client, "_transport", None) is transport:
        routes.append(None)  # the fallback, after every mount
    order = list(mounts)
    for route in routes:
        end = len(order) if route is None else order.index(route)
        for pattern in order[:end]:
            if _is_proxy(mounts[pattern]) and _covers_every_host(pattern):
                scheme = getattr(pattern, "scheme", "")
                which = f"{scheme}://" if scheme else "http:// and https://"
                raise ValueError(
                    f"this httpx.AsyncClient sends every {which} request through a proxy "
                    f"(its mount {getattr(pattern, 'pattern', pattern)!r}, made by proxy= "
                    "or, with mounts=, by a proxy environment variable), so none would "
                    "reach the balanced transport, which dials the endpoints discovery "
                    "finds and does not support proxies: drop proxy= (or pass "
                    "trust_env=False) for this client"
                )
