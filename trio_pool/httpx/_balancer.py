"""`Balancer`: one authority's pool queue, from its first request until it idles or fails.

The transport starts a balancer in its own nursery on the first request for an authority.
The balancer runs `open_pool_queue` over a pool of its own, with the transport's retry
policy and hedging (so the balances of their budgets are the authority's own), and
counts the requests that use it: a request is *active* from the moment it asks for the
balancer until it fails or its response is closed, body included. Once no request has
been active for ``idle_timeout`` seconds (Trio time), the balancer takes itself out of
the transport's table (synchronously, so no request can pick it up afterwards) and
leaves its block, which closes the pool's endpoints and their connections.

When its queue closes for good (discovery or the pool failed), the balancer leaves the
table at once, so the next request builds a new one, but keeps its endpoints open until
the responses still being read are closed. A balancer fed by a one-shot stream from a
mapping stays instead: its stream cannot feed a new one, so later requests get its
`BalancerClosedError`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Callable
from typing import Any

import attrs
import trio

from .._pool import Pool
from .._queue import PoolQueue, open_pool_queue
from .._resilience import Hedging, RetryPolicy
from .._update import Update
from ._authority import Authority
from ._errors import BalancerClosedError
from ._flavour import httpx
from ._metrics import AuthorityMeter

__all__ = ["Balancer"]


@attrs.define(eq=False)
class Balancer:
    """One authority's queue and the count of requests using it."""

    authority: Authority
    pool: Pool[Any, Any, httpx.Request, httpx.Response]
    _discovery: AsyncIterable[Update]
    _capacity: int
    _failfast_timeout: float
    _idle_timeout: float
    _retire: Callable[[Balancer], None]
    # Fed by a one-shot stream (from a mapping): a new balancer could not be fed again,
    # so this one stays even once its queue closes, and later requests get its error.
    _one_shot: bool = False
    meter: AuthorityMeter = attrs.field(factory=AuthorityMeter.disabled)
    _retry: RetryPolicy | None = attrs.field(default=None, kw_only=True)
    _hedging: Hedging | None = attrs.field(default=None, kw_only=True)
    _wait_for_ready: bool = attrs.field(default=False, kw_only=True)
    queue: PoolQueue[httpx.Request, httpx.Response] | None = attrs.field(default=None, init=False)
    active: int = attrs.field(default=0, init=False)
    _last_active: float = attrs.field(factory=trio.current_time, init=False)
    _started: trio.Event = attrs.field(factory=trio.Event, init=False)
    _wakeup: trio.Event | None = attrs.field(default=None, init=False)
    # Whether the idle loop waits for the last active request to end; only then does
    # exit() wake it, so a busy balancer costs no task switch per request.
    _wake_on_exit: bool = attrs.field(default=False, init=False)
    _retired: bool = attrs.field(default=False, init=False)

    # -- what requests do -----------------------------------------------------------------

    def enter(self) -> None:
        """A request starts using the balancer."""
        self.active += 1

    def exit(self) -> None:
        """A request is done with the balancer: it failed, or its response was closed."""
        self.active -= 1
        if not self.active:
            self._last_active = trio.current_time()
            if self._wake_on_exit:
                self._wake()

    async def wait_queue(self, request: httpx.Request) -> PoolQueue[httpx.Request, httpx.Response]:
        """The queue, once the balancer has started it.

        Raises:
            BalancerClosedError: the balancer stopped before its queue opened (the
                transport is closing).
        """
        await self._started.wait()
        if self.queue is None:
            raise BalancerClosedError(
                f"the balancer of {self.authority.origin} stopped before it started",
                request=request,
            )
        return self.queue

    # -- its task -------------------------------------------------------------------------

    async def run(self) -> None:
        """Run the queue until the balancer idles or its queue closes; then retire."""
        try:
            async with open_pool_queue(
                self.pool,
                self._discovery,
                capacity=self._capacity,
                failfast_timeout=self._failfast_timeout,
                metrics=self.meter.queue,
                retry=self._retry,
                hedging=self._hedging,
                wait_for_ready=self._wait_for_ready,
            ) as queue:
                self.queue = queue
                self._started.set()
                async with trio.open_nursery() as watchers:
                    watchers.start_soon(self._retire_when_closed, queue)
                    await self._until_idle()
                    # No checkpoint since the balancer was found idle: retire it now,
                    # before a request can find it in the table.
                    self._retire_once()
                    watchers.cancel_scope.cancel(
                        reason=f"the balancer of {self.authority.origin} stops"
                    )
        finally:
            self._retire_once()
            self._started.set()  # whoever waits for a queue that never opened fails

    async def _until_idle(self) -> None:
        # Returns with no request active, and either none for idle_timeout or retired.
        # It sleeps until idle_timeout after the last request ended, however many came
        # and went since, and asks to be woken by a request's end only when it finds
        # one still active after that: a busy balancer costs no task switch per request.
        while True:
            now = trio.current_time()
            deadline = self._last_active + self._idle_timeout
            if self._retired or now >= deadline:
                if not self.active:
                    return
                deadline = math.inf
            self._wakeup = trio.Event()
            self._wake_on_exit = deadline == math.inf
            with trio.move_on_at(deadline):
                await self._wakeup.wait()
            self._wakeup = None
            self._wake_on_exit = False

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def _retire_when_closed(self, queue: PoolQueue[httpx.Request, httpx.Response]) -> None:
        await queue.wait_closed()
        if self._one_shot:
            return
        # Forgotten at once, so that the next request to the authority builds a new
        # balancer (and calls resolve() again); the block stays open for the responses
        # still being read.
        self._retire_once()
        self._wake()

    def _retire_once(self) -> None:
        if not self._retired:
            self._retired = True
            self._retire(self)
