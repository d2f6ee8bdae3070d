"""The failfast gate, and the queue's closed state beside it.

The gate is OPEN while requests may enter; SHUT while the pool has had no ready endpoint
for the failfast timeout (new calls fail at once with `FailFastError`); CLOSED for good
once the queue closes (calls fail with `PoolClosedError`). SHUT and OPEN alternate; CLOSED
is terminal. State that tasks wait on lives in a `trio_util.AsyncValue`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

import attrs
from trio_util import AsyncValue

from .._errors import FailFastError, PoolClosedError, PoolError
from ._metrics import QueueMetrics

__all__ = ["Gate", "GateState"]

logger = logging.getLogger("trio_pool.queue")


class GateState(enum.Enum):
    OPEN = "open"
    SHUT = "shut"
    CLOSED = "closed"


@attrs.define(eq=False)
class Gate:
    failfast_timeout: float
    _metrics: QueueMetrics
    _describe_pool: Callable[[], tuple[str, BaseException | None]] = lambda: ("", None)
    """The pool's state and its last endpoint error, for the errors the gate builds."""
    _state: AsyncValue[GateState] = attrs.field(init=False)
    is_open: bool = attrs.field(default=True, init=False)
    """Whether calls may enter: the state, read on every call without a property."""
    _closed_reason: str = attrs.field(default="", init=False)
    _closed_cause: BaseException | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._state = AsyncValue(GateState.OPEN)
        self._metrics.failfast_timeout.set(self.failfast_timeout)
        self._metrics.gate_open_time.set(self._metrics.wall_clock())

    @property
    def state(self) -> GateState:
        return self._state.value

    def refusal(self) -> PoolError:
        """The error for a call that arrives while the gate is not open."""
        if self._state.value is GateState.CLOSED:
            return self.closed_failure()
        return self.failfast_failure()

    def failfast_failure(self) -> FailFastError:
        detail, cause = self._describe_pool()
        error = FailFastError.timed_out(self.failfast_timeout, detail)
        error.__cause__ = cause
        return error

    def closed_failure(self) -> PoolClosedError:
        # A fresh error per caller: one instance raised in many tasks would collect all
        # of their tracebacks.
        error = PoolClosedError(self._closed_reason)
        error.__cause__ = self._closed_cause
        return error

    def shut(self) -> None:
        if self._state.value is not GateState.OPEN:
            return
        self._state.value = GateState.SHUT
        self.is_open = False
        logger.debug(
            "failfast: no endpoint ready for %g s; failing queued requests", self.failfast_timeout
        )
        self._metrics.gate_shut.inc()
        self._metrics.gate_shut_time.set(self._metrics.wall_clock())

    def open(self) -> None:
        if self._state.value is not GateState.SHUT:
            return
        self._state.value = GateState.OPEN
        self.is_open = True
        logger.debug("failfast exited: the pool is ready again")
        self._metrics.gate_open.inc()
        self._metrics.gate_open_time.set(self._metrics.wall_clock())

    def close(self, reason: str, cause: BaseException | None) -> bool:
        """Close for good, keeping the first reason; return whether this call closed it."""
        if self._state.value is GateState.CLOSED:
            return False
        self._closed_reason = reason
        self._closed_cause = cause
        self._state.value = GateState.CLOSED
        self.is_open = False
        if cause is None:
            logger.debug("queue closed: %s", reason)
        else:
            logger.debug("queue closed: %s: %r", reason, cause)
        return True

    async def wait_available(self) -> None:
        state = await self._state.wait_value(lambda s: s is not GateState.SHUT)
        if state is GateState.CLOSED:
            raise self.closed_failure()

    async def wait_closed(self) -> PoolClosedError:
        await self._state.wait_value(GateState.CLOSED)
        return self.closed_failure()
