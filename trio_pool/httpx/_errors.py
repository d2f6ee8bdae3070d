"""The errors the balanced transport raises by itself, as httpx errors.

The tree::

    httpx.TransportError, trio_pool.PoolError
     └── BalancerError                  base of the balanced transport's own errors
          ├── BalancerFailFastError     no endpoint of the authority could be reached
          │                             (none ready for ``failfast_timeout``); also an
          │                             ``httpx.ConnectError``; ``__cause__`` is the
          │                             `trio_pool.FailFastError`
          ├── BalancerPoolTimeout       no endpoint took the request within its ``pool``
          │                             timeout; also an ``httpx.PoolTimeout``;
          │                             ``__cause__`` is the `trio_pool.DispatchTimeoutError`
          ├── BalancerClosedError       the authority's queue is closed (its discovery or
          │                             its pool failed) or the transport is; ``__cause__``
          │                             is the `trio_pool.PoolClosedError`, if any
          └── UnknownAuthorityError     ``resolve`` knows no discovery for the URL's
                                        authority; also an ``httpx.ConnectError``

Each is an ``httpx.TransportError`` (so an ``httpx.RequestError``), which is what code
written against httpx catches, and a `trio_pool.PoolError`, which is what code written
against trio-pool catches. Each names the authority (``https://api.test:443``) and, where
the pool tells it, its endpoints by state and the last endpoint error (the ``__cause__``
of the ``__cause__``). Errors of the endpoints themselves (``httpx.ConnectError``,
``httpx.ReadTimeout``, ...) are raised unwrapped, as httpx's own transport raises them.
"""

from __future__ import annotations

import httpx

from .._errors import DispatchTimeoutError, FailFastError, PoolClosedError, PoolError

__all__ = [
    "BalancerClosedError",
    "BalancerError",
    "BalancerFailFastError",
    "BalancerPoolTimeout",
    "UnknownAuthorityError",
    "map_pool_error",
]


class BalancerError(httpx.TransportError, PoolError):
    """Base class of the errors that the balanced transport raises by itself."""


class BalancerFailFastError(BalancerError, httpx.ConnectError):
    """No endpoint of the authority could be reached: none became ready within
    ``failfast_timeout``.

    Raised by requests that waited for that long, and at once by every request to the
    authority while its failfast gate stays shut; the gate opens again, in the
    background, as soon as an endpoint is ready. Like a host that cannot be reached to
    plain httpx, it is an ``httpx.ConnectError``. The message names the authority, its
    endpoints by state and the last endpoint error; ``__cause__`` is the
    `trio_pool.FailFastError`, whose own ``__cause__`` is that endpoint error.
    """


class BalancerPoolTimeout(BalancerError, httpx.PoolTimeout):
    """No endpoint of the authority took the request within the request's ``pool``
    timeout (httpx's ``Timeout(pool=...)``), as httpx's own transport raises
    ``httpx.PoolTimeout`` when no connection frees up in time.

    Only that request gives up; the balancer is unaffected. ``__cause__`` is the
    `trio_pool.DispatchTimeoutError`.
    """


class BalancerClosedError(BalancerError):
    """The authority's queue, or the whole transport, is closed.

    The queue closes for good when its discovery stream or its pool raises; the
    ``__cause__`` chain (a `trio_pool.PoolClosedError`, then the failure) says why. The
    transport then forgets that balancer, so the next request to the authority builds a
    new one, calling ``resolve`` again. After the ``open_balanced_transport`` block is
    left, every request raises this error.
    """


class UnknownAuthorityError(BalancerError, httpx.ConnectError):
    """``resolve`` has no discovery stream for the request's authority.

    Raised when ``resolve(authority)`` raises a ``LookupError`` (a mapping without that
    key raises ``KeyError``); that error is the ``__cause__``. Like an unknown host name
    to plain httpx, it is an ``httpx.ConnectError``.
    """


def map_pool_error(error: PoolError, origin: str, request: httpx.Request) -> BalancerError:
    """The httpx counterpart of an error the authority's queue raised; ``origin`` names
    the authority (``https://api.test:443``). The caller raises it ``from error``."""
    if isinstance(error, FailFastError):
        return BalancerFailFastError(
            f"no endpoint of {origin} could be reached: {error}", request=request
        )
    if isinstance(error, DispatchTimeoutError):
        message = f"no endpoint of {origin} was ready within the request's pool timeout"
        timeout = error.dispatch_timeout
        if timeout is not None:
            message += f" of {timeout:g} s"
            # The queue's own words say "dispatch timeout", which an httpx user never
            # set; keep only what follows them, the pool's state.
            if error.detail:
                message += f": {error.detail}"
        return BalancerPoolTimeout(message, request=request)
    if isinstance(error, PoolClosedError):
        return BalancerClosedError(f"the balancer of {origin} is closed: {error}", request=request)
    return BalancerError(f"{origin}: {error}", request=request)
