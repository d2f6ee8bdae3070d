"""The count of requests a queue has accepted and not yet dispatched or failed."""

from __future__ import annotations

import attrs

from .._metrics import GaugeLike

__all__ = ["Backlog"]


@attrs.define(eq=False, slots=True)
class Backlog:
    """Shared by the callers and the worker; Trio runs both on one thread, so no lock.

    ``pending`` counts a request from the moment a caller starts to enqueue it until the
    worker has answered it, the request the worker holds included: while it is zero, a
    call may bypass the channel without overtaking anyone. The queue-length gauge counts
    only what waits *before* the worker.
    """

    _length: GaugeLike
    pending: int = 0

    def enqueue(self) -> None:
        self.pending += 1
        self._length.inc()

    def cancel_enqueue(self) -> None:
        self.pending -= 1
        self._length.dec()

    def take(self) -> None:
        self._length.dec()

    def finish(self) -> None:
        self.pending -= 1
