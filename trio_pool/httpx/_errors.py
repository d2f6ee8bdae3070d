"""The errors the balanced transport raises by itself, as httpx errors.

The tree::

    httpx.TransportError, trio_pool.PoolError
     └── BalancerError                  base of the balanced transport's own errors
          ├── BalancerConnectError      every endpoint of the authority failed its latest
          │                             connection attempt; also an ``httpx.ConnectError``
          │                             that quotes the OS's error, its ``__cause__``
          │   └── BalancerConnectTimeout  the same, the last attempt timed out (or the
          │                             request's wait for one did); also an
          │                             ``httpx.ConnectTimeout``
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

import trio

from .._errors import (
    DispatchTimeoutError,
    FailFastError,
    PoolClosedError,
    PoolError,
    UnavailableError,
)
from ._flavour import httpx

__all__ = [
    "BalancerClosedError",
    "BalancerConnectError",
    "BalancerConnectTimeout",
    "BalancerError",
    "BalancerFailFastError",
    "BalancerPoolTimeout",
    "UnknownAuthorityError",
    "map_pool_error",
    "root_cause",
]


class BalancerError(httpx.TransportError, PoolError):
    """Base class of the errors that the balanced transport raises by itself."""


class BalancerConnectError(BalancerError, httpx.ConnectError):
    """Every endpoint of the authority failed its latest connection attempt, and a try
    of them on this request's behalf failed too (or this request is a retry).

    What a host that refuses connections gives plain httpx, at about the same time: an
    ``httpx.ConnectError`` whose message starts with the OS's words ("Connection
    refused") and names the authority; ``__cause__`` is the OS's error. With
    ``wait_for_ready=True``, requests wait up to ``failfast_timeout`` instead.
    """


class BalancerConnectTimeout(BalancerConnectError, httpx.ConnectTimeout):
    """`BalancerConnectError` whose last connection attempt timed out, or a request
    whose ``pool`` timeout ran out while it waited for a connection attempt of the
    authority's failing endpoints: an ``httpx.ConnectTimeout``, as plain httpx raises
    when a host does not answer."""


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
    the authority (``https://api.test:443``). Its ``__cause__`` is set: ``error``
    itself, or for endpoints that could not connect, the OS's error behind them."""
    mapped = _mapped(error, origin, request)
    if mapped.__cause__ is None:
        mapped.__cause__ = error
    return mapped


def root_cause(error: BaseException) -> BaseException:
    """The deepest error behind ``error``: the OS's own, where there is one.

    httpcore re-raises its errors ``from None`` with the original as the argument, so
    the chain is followed through ``__cause__``, ``__context__`` and an error argument.
    """
    seen = {id(error)}
    while True:
        behind = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if behind is None and error.args and isinstance(error.args[0], BaseException):
            behind = error.args[0]
        if behind is None and isinstance(error, BaseExceptionGroup) and error.exceptions:
            behind = error.exceptions[-1]  # trio.open_tcp_stream: one per address tried
        if behind is None or id(behind) in seen:
            return error
        seen.add(id(behind))
        error = behind


def _timed_out(error: BaseException | None) -> bool:
    """Whether a connection attempt that ended with ``error`` timed out."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, httpx.ConnectTimeout | trio.TooSlowError | TimeoutError):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _connect_failure(
    error: UnavailableError, origin: str, request: httpx.Request
) -> BalancerConnectError:
    failure = error.__cause__
    root = root_cause(failure) if failure is not None else None
    words = str(root) if root is not None else ""
    if not words and root is not None:
        words = "timed out" if _timed_out(root) else type(root).__name__
    kind = BalancerConnectTimeout if _timed_out(failure) else BalancerConnectError
    mapped = kind(
        f"{words or 'cannot connect'} (every endpoint of {origin} failed its latest "
        f"connection attempt: {error.detail or 'no detail'})",
        request=request,
    )
    if root is not None:
        mapped.__cause__ = root
    return mapped


def _mapped(error: PoolError, origin: str, request: httpx.Request) -> BalancerError:
    if isinstance(error, UnavailableError):
        return _connect_failure(error, origin, request)
    if isinstance(error, DispatchTimeoutError) and error.failing:
        return BalancerConnectTimeout(
            f"timed out: every endpoint of {origin} had failed its latest connection "
            "attempt, and none connected within the request's pool timeout"
            + (f" of {error.dispatch_timeout:g} s" if error.dispatch_timeout else "")
            + (f": {error.detail}" if error.detail else ""),
            request=request,
        )
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
