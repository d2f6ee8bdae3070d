"""The errors the balanced transport raises by itself, as httpx errors.

The tree::

    httpx.TransportError, trio_pool.PoolError
     └── BalancerError                  base of the balanced transport's own errors
          ├── BalancerFailFastError     the authority's pool had no ready endpoint for
          │                             ``failfast_timeout``; ``__cause__`` is the
          │                             `trio_pool.FailFastError`
          ├── BalancerClosedError       the authority's queue is closed (its discovery or
          │                             its pool failed) or the transport is; ``__cause__``
          │                             is the `trio_pool.PoolClosedError`, if any
          └── UnknownAuthorityError     ``resolve`` knows no discovery for the URL's
                                        authority; also an ``httpx.ConnectError``

Each is an ``httpx.TransportError`` (so an ``httpx.RequestError``), which is what code
written against httpx catches, and a `trio_pool.PoolError`, which is what code written
against trio-pool catches. Errors of the endpoints themselves (``httpx.ConnectError``,
``httpx.ReadTimeout``, ...) are raised unwrapped, as httpx's own transport raises them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from .._errors import FailFastError, PoolClosedError, PoolError

__all__ = [
    "BalancerClosedError",
    "BalancerError",
    "BalancerFailFastError",
    "UnknownAuthorityError",
    "map_pool_errors",
]


class BalancerError(httpx.TransportError, PoolError):
    """Base class of the errors that the balanced transport raises by itself."""


class BalancerFailFastError(BalancerError):
    """No endpoint of the authority became ready within ``failfast_timeout``.

    Raised by requests that waited for that long, and at once by every request to the
    authority while its failfast gate stays shut; the gate opens again, in the
    background, as soon as an endpoint is ready. ``__cause__`` is the
    `trio_pool.FailFastError`.
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


@contextmanager
def map_pool_errors(request: httpx.Request) -> Iterator[None]:
    """Raise the queue's `FailFastError` / `PoolClosedError` as their httpx counterparts."""
    try:
        yield
    except FailFastError as exc:
        raise BalancerFailFastError(str(exc), request=request) from exc
    except PoolClosedError as exc:
        raise BalancerClosedError(str(exc), request=request) from exc
