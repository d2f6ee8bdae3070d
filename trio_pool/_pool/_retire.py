"""`Retirer`: endpoints taken out of service drain, then close.

An endpoint leaves service when its member is evicted (removed, or rebuilt with a new
target) or when it fails and its member backs off. Calls still running on it keep it
open: it is closed with ``aclose()`` once the last of them ends. Closes run on a
`Runner`, so the many that complete at once cost no task; one that blocks gets a task
of its own and ``close_grace`` seconds.

When the pool closes, `aclose` gives everything one grace period in all: calls still
running on endpoints (callers in a nursery outside the queue's block, say) may end
within its first four fifths, then every endpoint not closed yet is closed,
concurrently, within what is left of it; whatever still runs when it is over is
abandoned, with a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

import attrs
import trio

from ._runner import Runner

__all__ = ["Retirer"]

logger = logging.getLogger("trio_pool.pool")

# The part of the pool's close grace kept for closing, once calls had the rest to end.
_CLOSING_SHARE = 0.2


@attrs.define(eq=False, slots=True)
class _Draining:
    endpoint: Any
    calls: int


@attrs.define(eq=False)
class Retirer:
    """Drains and closes the endpoints a pool takes out of service."""

    _runner: Runner
    close_grace: float = 5.0
    """How long one endpoint's ``aclose()``, or the pool's close, may take."""
    _draining: dict[int, _Draining] = attrs.field(factory=dict, init=False)
    _drained: trio.Event = attrs.field(factory=trio.Event, init=False)
    _closed: bool = attrs.field(default=False, init=False)

    @property
    def draining(self) -> int:
        """Endpoints out of service whose calls have not all ended yet."""
        return len(self._draining)

    def retire(self, endpoint: Any, calls: int) -> None:
        """Take ``endpoint`` out of service: it closes once its ``calls`` have ended."""
        if calls:
            # By identity: an endpoint need not be hashable, nor compare sanely.
            self._draining[id(endpoint)] = _Draining(endpoint, calls)
        else:
            self._close_soon(endpoint)

    def call_ended(self, endpoint: Any) -> None:
        """A call on a retired ``endpoint`` ended."""
        draining = self._draining.get(id(endpoint))
        if draining is None:
            return  # the pool closed it already, its calls having outlived the grace
        draining.calls -= 1
        if not draining.calls:
            del self._draining[id(endpoint)]
            self._close_soon(endpoint)
            if not self._draining:
                self._drained.set()

    def _close_soon(self, endpoint: Any) -> None:
        if hasattr(endpoint, "aclose"):
            self._runner.submit(self, endpoint)

    # -- the runner's jobs ----------------------------------------------------------------

    def start(self, endpoint: Any) -> Coroutine[Any, Any, None]:
        return _close(endpoint)

    def blocked(self, endpoint: Any, scope: trio.CancelScope) -> None:
        scope.deadline = trio.current_time() + self.close_grace

    async def aclose(self) -> None:
        """Close everything retired, within one grace period in all (see the module).

        Called once, when the pool closes, after every endpoint has been retired.
        """
        if self._closed:
            return
        self._closed = True
        deadline = trio.current_time() + self.close_grace
        # Calls get most of the grace period to end; closing keeps the rest, so that
        # every endpoint's aclose() is called within it even when calls outlive it.
        with trio.move_on_at(deadline - self.close_grace * _CLOSING_SHARE) as drain:
            if self._draining:
                self._drained = trio.Event()
                await self._drained.wait()
        if drain.cancelled_caught:
            logger.warning(
                "closing %d endpoints while calls still run on them, %g s after the pool "
                "began to close",
                len(self._draining),
                self.close_grace * (1 - _CLOSING_SHARE),
            )
            for draining in self._draining.values():
                self._close_soon(draining.endpoint)
            self._draining.clear()
        # What is still queued (the runner stopped with the pool's drive()) closes here,
        # concurrently, within what is left of the grace period.
        closing = self._runner.take_queued(self)
        if not closing:
            return
        runner = Runner("trio_pool close")
        for endpoint in closing:
            runner.submit(self, endpoint)
        with trio.move_on_at(deadline) as rest:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(runner.run)
                await runner.wait_idle()
                nursery.cancel_scope.cancel()
        if rest.cancelled_caught:
            logger.warning("closing endpoints took more than %g s; given up", self.close_grace)


async def _close(endpoint: Any) -> None:
    try:
        await endpoint.aclose()
    except Exception as exc:
        logger.warning("closing endpoint %r failed: %r", endpoint, exc)
    except BaseExceptionGroup as group:
        cancelled, failed = group.split(trio.Cancelled)
        if failed is not None:
            logger.warning("closing endpoint %r failed: %r", endpoint, failed)
        if cancelled is not None:
            raise cancelled from None
