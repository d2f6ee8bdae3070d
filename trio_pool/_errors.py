"""The errors trio-pool raises to callers.

The tree::

    Exception
     └── PoolError                  base of everything trio-pool raises by itself
          ├── FailFastError         the pool had no ready endpoint for ``failfast_timeout``
          └── PoolClosedError       the queue is closed: discovery or the pool failed, or the
                                    ``open_pool_queue`` block was left; the original failure,
                                    if any, is the ``__cause__``

An endpoint's own errors are not wrapped: a request that reached an endpoint fails with
whatever that endpoint raised.
"""

from __future__ import annotations

__all__ = ["FailFastError", "PoolClosedError", "PoolError"]


class PoolError(Exception):
    """Base class of the errors that trio-pool raises by itself."""


class FailFastError(PoolError):
    """The pool had no ready endpoint for ``failfast_timeout`` seconds.

    Raised by requests that were waiting when the deadline passed, and by every call made
    while the gate stays shut. The gate opens again, in the background, as soon as the pool
    has a ready endpoint; ``await queue.wait_available()`` waits for that.
    """

    def __init__(self, failfast_timeout: float) -> None:
        super().__init__(
            f"no endpoint became ready within the failfast timeout of {failfast_timeout:g} s"
        )
        self.failfast_timeout = failfast_timeout


class PoolClosedError(PoolError):
    """The queue is closed and takes no more requests.

    ``__cause__`` is the failure that closed it (discovery raising, ``pool.drive()`` raising,
    a malformed update), or ``None`` when the ``open_pool_queue`` block was simply left.
    """
