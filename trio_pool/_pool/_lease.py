"""`Lease`: what lets a call's accounting outlive the call, for a response that still holds
its endpoint after it is returned (an HTTP response whose body is read later)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Lease"]


class Lease:
    """Keeps a call counted against its endpoint after the call returned, until released.

    A pool passes a fresh lease to an endpoint that has the optional method
    ``call_leased(request, lease)`` instead of calling ``call(request)``; the endpoint
    ties ``release()`` to whatever still holds it once the call has returned, say the
    close of a response body that is read after the call returned its headers.

    The call's accounting (its count against the endpoint's load, the pool's calls in
    flight, the close of an evicted endpoint, which waits for its calls) then ends once
    the call has returned *and* the lease is released, whichever comes last. The load
    is still measured to the call's return. If the call raises, is cancelled or is
    dropped unawaited, its accounting ends there, and a later ``release()`` does nothing.

    ``release()`` is synchronous and idempotent. A lease that is never released keeps
    its call counted, and its endpoint open, for as long as the pool lives.
    """

    __slots__ = ("_on_release", "_released", "failed", "failure", "retry_after")

    def __init__(self) -> None:
        self._released = False
        self._on_release: Callable[[], None] | None = None
        self.failed = False
        """Set by the endpoint when the call returned an answer that is a failure all
        the same (an HTTP 5xx): the load counts it as a failed call."""
        self.failure: BaseException | None = None
        """What the failure was, if the endpoint says (set with ``failed``): the
        endpoint's statistics show it as its last call error."""
        self.retry_after: float | None = None
        """Set by the endpoint, before its call returns, when the answer asks for no
        more requests for this many seconds (an HTTP 429 or 503 with
        ``Retry-After``): the pool prefers its other endpoints until then (see
        `OutlierDetection` for the panic threshold, which counts it)."""

    @property
    def released(self) -> bool:
        """Whether ``release()`` was called."""
        return self._released

    def release(self) -> None:
        """End the leased call's accounting (once its call has returned); idempotent."""
        if self._released:
            return
        self._released = True
        on_release, self._on_release = self._on_release, None
        if on_release is not None:
            on_release()

    def when_released(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the lease is released, at once if it is already.

        For pools: called once, when the leased call has returned.
        """
        if self._on_release is not None:
            raise RuntimeError("a lease takes one release callback")
        if self._released:
            callback()
        else:
            self._on_release = callback
