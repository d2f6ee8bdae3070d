"""The errors trio-pool raises to callers.

The tree::

    Exception
     └── PoolError                  base of everything trio-pool raises by itself
          ├── FailFastError         the pool had no ready endpoint for ``failfast_timeout``
          ├── UnavailableError      every endpoint of the pool is failing, and the queue
          │                         does not wait for one (``wait_for_ready=False``)
          ├── DispatchTimeoutError  a request waited its own ``dispatch_timeout`` for an
          │                         endpoint (also a ``TimeoutError``)
          └── PoolClosedError       the queue is closed: discovery or the pool failed, or the
                                    ``open_pool_queue`` block was left; the original failure,
                                    if any, is the ``__cause__``

Errors the queue raises name the pool's state where the pool tells it (the shipped
pools do: how many endpoints, in which state) and carry its last endpoint error as the
``__cause__``. Each can also be built from a plain message, like any exception.

An endpoint's own errors are not wrapped: a request that reached an endpoint fails with
whatever that endpoint raised.
"""

from __future__ import annotations

__all__ = [
    "DispatchTimeoutError",
    "FailFastError",
    "PoolClosedError",
    "PoolError",
    "UnavailableError",
]


class PoolError(Exception):
    """Base class of the errors that trio-pool raises by itself."""


class FailFastError(PoolError):
    """The pool had no ready endpoint for ``failfast_timeout`` seconds.

    Raised by requests that were waiting when the deadline passed, and by every call made
    while the gate stays shut. The gate opens again, in the background, as soon as the pool
    has a ready endpoint; ``await queue.wait_available()`` waits for that.

    Built from a message like any exception; the queue builds it with `timed_out`, which
    fills in `failfast_timeout`.
    """

    failfast_timeout: float | None = None
    """The failfast timeout of the queue that raised it (``None`` if built otherwise)."""

    @classmethod
    def timed_out(cls, failfast_timeout: float, detail: str = "") -> FailFastError:
        """The error of a queue whose pool had no ready endpoint for ``failfast_timeout``;
        ``detail`` (the pool's state, say) ends the message."""
        message = f"no endpoint became ready within the failfast timeout of {failfast_timeout:g} s"
        error = cls(f"{message}: {detail}" if detail else message)
        error.failfast_timeout = failfast_timeout
        return error


class UnavailableError(PoolError):
    """Every endpoint of the pool failed its latest try to become ready, and the queue
    does not wait for one to recover (``open_pool_queue(..., wait_for_ready=False)``).

    Raised at once by a call that finds the pool so (a retry, or a call that arrived
    while the pool's own try of its endpoints was under way), and by a call whose try of
    the failed endpoints failed again. ``__cause__`` is the last endpoint error. Built
    from a message like any exception; the queue builds it with `failing`.
    """

    detail: str = ""
    """What the message says of the pool's state, if built by `failing`."""

    @classmethod
    def failing(cls, detail: str = "") -> UnavailableError:
        """The error of a queue whose endpoints are all failing; ``detail`` (the pool's
        state, say) ends the message."""
        message = "every endpoint failed its latest try to become ready"
        error = cls(f"{message}: {detail}" if detail else message)
        error.detail = detail
        return error


class DispatchTimeoutError(PoolError, TimeoutError):
    """A request waited longer than the ``dispatch_timeout`` it was sent with for an
    endpoint (``queue.call(request, dispatch_timeout=...)``).

    Only that request gives up; the queue and its failfast gate are unaffected. Built
    from a message like any exception; the queue builds it with `timed_out`.
    """

    dispatch_timeout: float | None = None
    """The request's dispatch timeout (``None`` if built otherwise)."""
    detail: str = ""
    """What the message says after the timeout (the pool's state), if built by
    `timed_out`."""
    failing: bool = False
    """Whether every endpoint of the pool was failing when the request gave up (see
    `UnavailableError`): it waited for a try of the failed endpoints, not for a free
    one."""

    @classmethod
    def timed_out(cls, dispatch_timeout: float, detail: str = "") -> DispatchTimeoutError:
        """The error of a request that waited ``dispatch_timeout`` seconds in vain;
        ``detail`` (the pool's state, say) ends the message."""
        message = f"no endpoint was ready within the dispatch timeout of {dispatch_timeout:g} s"
        error = cls(f"{message}: {detail}" if detail else message)
        error.dispatch_timeout = dispatch_timeout
        error.detail = detail
        return error


class PoolClosedError(PoolError):
    """The queue is closed and takes no more requests.

    ``__cause__`` is the failure that closed it (discovery raising, ``pool.drive()`` raising,
    a malformed update), or ``None`` when the ``open_pool_queue`` block was simply left.
    """
