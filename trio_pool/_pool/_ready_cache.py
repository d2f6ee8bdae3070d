"""`ReadyCache`: the readiness of a pool's members, and nothing else.

What tower calls a ready cache, in Trio terms. It knows which members are ready (the
ready list that a policy picks from), brings the others there, and puts failed ones in
backoff; which members there are is the pool's business, and so is the choice among the
ready. A member's endpoint goes through these states (see `EndpointState`):

- *new*: about to be made by the factory (again, after a backoff);
- *pending*: its ``ready()`` is awaited;
- *ready*: in the ready list;
- *bound*: a call was just bound to it, and its ``ready()`` is awaited again, right away,
  in the task of the caller whose request it is;
- *backing off*: its readiness (or its factory) failed; after a capped exponential
  backoff with jitter it is made anew.

Readiness is per request, so an endpoint with only ``ready()`` is asked again after every
call. Where that wait runs decides what a plain endpoint costs, and nothing of it needs
a task of its own unless it blocks:

- when a call takes the last ready member, the caller's task awaits the endpoint's
  ``ready()`` right away (`await_inline`), before it sends its request, in a cancel
  scope entered first and cancelled the moment the wait would block: a ``ready()`` that
  returns at once makes the endpoint ready again before any other task runs, for a
  coroutine and a scope. One that would wait is cut short at its first cancel point and
  handed to the runner; the member then goes to the runner after every call from then
  on;
- otherwise the pool's `Runner` awaits the wait, with others, one after another in one
  task, giving a task of its own only to a wait that blocks.

An endpoint with ``ready_nowait()`` stays in the ready list after a call and is asked
again when it is picked; a ``trio.WouldBlock`` there makes it pending.

Endpoints taken out of service (failed ones here, evicted ones by the pool) go to the
`Retirer`, which closes them once their calls have ended.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

import attrs
import trio

from .._backoff import Backoff
from ._inline import await_inline
from ._member import EndpointState, Member
from ._metrics import PoolMetrics
from ._retire import Retirer
from ._runner import Runner

__all__ = ["ReadyCache"]

logger = logging.getLogger("trio_pool.pool")

NEW = EndpointState.NEW
PENDING = EndpointState.PENDING
READY = EndpointState.READY
BOUND = EndpointState.BOUND
BACKING_OFF = EndpointState.BACKING_OFF
EVICTED = EndpointState.EVICTED


LEAST_BACKOFF = 0.001
"""Seconds an endpoint that failed waits at least before it is made anew, whatever the
pool's `Backoff` says."""


def _cancel_probe(scope: trio.CancelScope) -> None:
    # A ready() awaited in a caller's task is about to wait: cancelled at its first
    # cancel point (a bare schedule point still completes), the caller never waits.
    scope.cancel()


def _ignore(member: Member) -> None:
    pass


def raise_cancelled(group: BaseExceptionGroup[BaseException], what: str) -> None:
    """If ``group`` holds a Cancelled, log the rest as moot and raise only the Cancelled.

    An endpoint's nursery may raise its own error beside the Cancelled in one group when
    its wait is cancelled; being cancelled, the error is moot.
    """
    cancelled, failed = group.split(trio.Cancelled)
    if cancelled is None:
        return
    if failed is not None:
        logger.warning("%s failed while cancelled: %r", what, failed)
    raise cancelled from None


@attrs.define(eq=False)
class ReadyCache:
    """The readiness of a pool's members: the ready list, and the way there.

    Driven by `run` (under the pool's ``drive()``); every other method is synchronous
    but `rearm` and `wait_ready`.
    """

    _new_endpoint: Callable[[Any, Any], Any]
    _retirer: Retirer
    _runner: Runner
    _backoff: Backoff
    _rng: random.Random
    _metrics: PoolMetrics
    _backing_off: Callable[[Member, bool], None] = lambda member, backing_off: None
    """Told each member that starts (``True``) or stops backing off (health's panic
    threshold counts them)."""
    ready: list[Member] = attrs.field(factory=list, init=False)
    """The ready members, in no particular order: what a policy picks from."""
    pending: int = attrs.field(default=0, init=False)
    """Members new, pending or bound: whose readiness is on its way."""
    backing_off: int = attrs.field(default=0, init=False)
    """Members whose endpoint failed, waiting to be made anew."""
    fresh: int = attrs.field(default=0, init=False)
    """Members whose latest try to become ready did not fail: ready ones, and those on
    their way for the first time or since they were last ready. While it is zero, every
    member has failed its latest try (see `failing`)."""
    last_error: BaseException | None = attrs.field(default=None, init=False)
    """The last error an endpoint (or the factory) raised in readiness."""
    listed: Callable[[Member], None] = attrs.field(default=_ignore, init=False)
    """Told each member that joins the ready list (a policy that indexes it)."""
    unlisted: Callable[[Member], None] = attrs.field(default=_ignore, init=False)
    """Told each member that leaves the ready list."""
    _waiters: int = attrs.field(default=0, init=False)
    _changed: trio.Event = attrs.field(factory=trio.Event, init=False)
    _retries: list[tuple[float, int, Member]] = attrs.field(factory=list, init=False)
    _retry_count: int = attrs.field(default=0, init=False)
    _retry_wakeup: trio.Event = attrs.field(factory=trio.Event, init=False)

    # -- membership, as the pool tells it ------------------------------------------------

    def join(self, member: Member) -> None:
        """Bring a new member to readiness: make its endpoint now, and ready it at once if
        it says it is ready (``ready_nowait()``), else have the runner await it."""
        self.pending += 1
        self.fresh += 1
        if self._make(member) and self._arm(member):
            self._runner.submit(self, member)

    def leave(self, member: Member) -> None:
        """The pool evicted ``member``: stop bringing it to readiness, retire its endpoint."""
        self._leave_state(member)
        if not member.failures:
            self.fresh -= 1
        member.state = EVICTED
        if member.scope is not None:
            member.scope.cancel()
            member.scope = None
        self._detach(member)

    # -- what calls do --------------------------------------------------------------------

    def check(self, member: Member) -> bool:
        """Ask a ready endpoint with ``ready_nowait()`` again, as a policy picked it:
        whether it can take the call (if not, it is pending or failed now)."""
        try:
            member.endpoint.ready_nowait()
        except trio.WouldBlock:
            self._remove_ready(member)
            member.state = PENDING
            self.pending += 1
            self._runner.submit(self, member)
            return False
        except Exception as exc:
            self._failed(member, exc, "ready_nowait()")
            return False
        return True

    def bound(self, member: Member) -> bool:
        """A call was bound to ``member``, whose endpoint has no ``ready_nowait()``: it
        is not ready until its ``ready()`` returns again. Return whether the caller is
        to await that (`rearm`); if not, the runner does.

        The caller does, in a cancel scope of its own, when the call took the last ready
        member and its ``ready()`` has never blocked: then the next caller finds it
        ready again, whereas the runner would only get to it in the next tick. Otherwise
        the runner's hop is cheaper than the scope.
        """
        self._remove_ready(member)
        self.pending += 1
        if member.inline and not self.ready:
            member.state = BOUND
            return True
        member.state = PENDING
        self._runner.submit(self, member)
        return False

    async def rearm(self, member: Member, endpoint: Any) -> None:
        """In the caller's task, right after its call was bound: await the endpoint's
        ``ready()`` if it returns at once, else leave it to the runner."""
        if member.state is not BOUND or member.endpoint is not endpoint:
            return  # the call was bound to an endpoint that left meanwhile
        member.state = PENDING
        blocked = True  # unless await_inline says otherwise: a wait cancelled blocked
        try:
            with trio.CancelScope() as scope:
                member.scope = scope
                blocked = await await_inline(endpoint.ready(), _cancel_probe, scope)
        except Exception as exc:
            if member.state is PENDING and member.endpoint is endpoint:
                member.scope = None
                self._failed(member, exc, "ready()")
            return
        except BaseException:
            # The caller itself is cancelled: the runner awaits the endpoint instead.
            if member.state is PENDING and member.endpoint is endpoint:
                member.scope = None
                self._runner.submit(self, member)
            raise
        if member.state is not PENDING or member.endpoint is not endpoint:
            return  # it left while the wait blocked
        member.scope = None
        if blocked:
            # Once its ready() yields, it is never awaited in a caller's task again: a
            # cancelled wait wastes more than the runner's hop costs.
            member.inline = False
        if scope.cancelled_caught:
            self._runner.submit(self, member)
        else:
            self._set_ready(member)

    def withhold(self, member: Member) -> None:
        """Keep ``member`` out of the ready list, whatever its readiness, until released."""
        member.withheld = True
        if member.index >= 0:
            self._remove_ready(member)

    def release(self, member: Member) -> None:
        """Undo `withhold`: a ready member is listed again at once."""
        member.withheld = False
        if member.state is READY and member.index < 0:
            self._list(member)

    def relist(self, member: Member) -> None:
        """List a listed member anew, so that a policy that indexes the ready list
        (`ListingPolicy`) sees what changed about it (a penalty)."""
        if member.index >= 0:
            self._remove_ready(member)
            self._list(member)

    def rearm_later(self, member: Member, endpoint: Any) -> None:
        """The caller will not `rearm` (its call was dropped): the runner does instead."""
        if member.state is BOUND and member.endpoint is endpoint:
            member.state = PENDING
        if member.state is PENDING and member.endpoint is endpoint and member.scope is None:
            self._runner.submit(self, member)

    async def wait_changed(self) -> None:
        """Wait until some member becomes ready (it may be taken before this returns) or
        fails."""
        self._waiters += 1
        try:
            await self._changed.wait()
        finally:
            self._waiters -= 1

    @property
    def failing(self) -> bool:
        """Whether every member failed its latest try to become ready: none is ready,
        none is on its way for the first time (gRPC's TRANSIENT_FAILURE). Some may be
        trying again after their backoff."""
        return not self.fresh and (self.pending or self.backing_off) > 0

    def retry_failed(self) -> None:
        """End the backoff of every member in backoff: each is made anew now."""
        retries = self._retries[:]
        self._retries.clear()  # in place: run() holds the list
        for _, _, member in retries:
            if member.state is BACKING_OFF:
                self._retry(member)

    # -- the runner's jobs ----------------------------------------------------------------

    def start(self, member: Member) -> Coroutine[Any, Any, None] | None:
        """The runner's job for ``member``: make its endpoint if it is new, then await its
        readiness; ``None`` if there is nothing to do (it left, or is already awaited)."""
        state = member.state
        if state is NEW:
            if not self._make(member) or not self._arm(member):
                return None
        elif state is not PENDING or member.scope is not None:
            return None
        return self._await_ready(member, member.endpoint)

    def blocked(self, member: Member, scope: trio.CancelScope) -> None:
        member.scope = scope

    async def _await_ready(self, member: Member, endpoint: Any) -> None:
        try:
            await endpoint.ready()
        except Exception as exc:
            if member.state is PENDING and member.endpoint is endpoint:
                member.scope = None
                self._failed(member, exc, "ready()")
            return
        except BaseExceptionGroup as group:
            raise_cancelled(group, f"endpoint {member.address!r} ready()")
            raise
        if member.state is PENDING and member.endpoint is endpoint:
            member.scope = None
            self._set_ready(member)

    # -- driving ----------------------------------------------------------------------------

    async def run(self) -> NoReturn:
        """Make failed members anew when their backoff ends, until cancelled (the
        runner, which the pool runs beside, awaits the readiness waits)."""
        retries = self._retries
        while True:
            now = trio.current_time()
            while retries and retries[0][0] <= now:
                _, _, member = heapq.heappop(retries)
                if member.state is BACKING_OFF and member.retry_at <= now:
                    self._retry(member)
            self._retry_wakeup = trio.Event()
            with trio.move_on_at(retries[0][0] if retries else math.inf):
                await self._retry_wakeup.wait()

    def _retry(self, member: Member) -> None:
        self.backing_off -= 1
        self.pending += 1
        member.state = NEW
        self._backing_off(member, False)
        logger.debug("endpoint %r: making it anew after its backoff", member.address)
        self._runner.submit(self, member)

    # -- states -----------------------------------------------------------------------------

    def _make(self, member: Member) -> bool:
        """Make a new member's endpoint; on failure, put it in backoff."""
        try:
            endpoint = self._new_endpoint(member.address, member.target)
        except Exception as exc:
            self._failed(member, exc, "creating it")
            return False
        member.endpoint = endpoint
        member.nowait = hasattr(endpoint, "ready_nowait")
        member.leased = hasattr(endpoint, "call_leased")
        member.inline = True
        member.state = PENDING
        return True

    def _arm(self, member: Member) -> bool:
        """A pending member with a fresh endpoint: ready at once if it says so. Return
        whether its readiness must still be awaited."""
        if not member.nowait:
            return True
        try:
            member.endpoint.ready_nowait()
        except trio.WouldBlock:
            return True
        except Exception as exc:
            self._failed(member, exc, "ready_nowait()")
            return False
        self._set_ready(member)
        return False

    def _set_ready(self, member: Member) -> None:
        self.pending -= 1
        member.state = READY
        if member.failures:
            member.failures = 0
            self.fresh += 1
        if not member.withheld:
            self._list(member)

    def _list(self, member: Member) -> None:
        member.index = len(self.ready)
        self.ready.append(member)
        self.listed(member)
        self._wake()

    def _wake(self) -> None:
        if self._waiters:
            self._changed.set()
            self._changed = trio.Event()

    def _remove_ready(self, member: Member) -> None:
        # Swap-remove: O(1) whatever the pool size.
        ready = self.ready
        last = ready.pop()
        if last is not member:
            ready[member.index] = last
            last.index = member.index
        member.index = -1
        self.unlisted(member)

    def _leave_state(self, member: Member) -> None:
        state = member.state
        if state is READY:
            if member.index >= 0:
                self._remove_ready(member)
        elif state is BACKING_OFF:
            self.backing_off -= 1
            self._backing_off(member, False)
        elif state is not EVICTED:
            self.pending -= 1

    def _failed(self, member: Member, exc: BaseException, during: str) -> None:
        if not member.failures:
            self.fresh -= 1
        member.failures += 1
        member.last_error = self.last_error = exc
        # Never at once: an endpoint that fails as it is made, made anew with no delay,
        # would keep the pool busy (and a virtual clock still).
        delay = max(self._backoff.delay(member.failures, self._rng), LEAST_BACKOFF)
        logger.warning(
            "endpoint %r failed in %s (failure %d in a row; made anew in %.3g s): %r",
            member.address,
            during,
            member.failures,
            delay,
            exc,
        )
        self._metrics.endpoint_failures.inc()
        self._leave_state(member)
        member.state = BACKING_OFF
        self.backing_off += 1
        self._backing_off(member, True)
        self._detach(member)
        member.retry_at = due = trio.current_time() + delay
        self._retry_count += 1
        heapq.heappush(self._retries, (due, self._retry_count, member))
        if self._retries[0][2] is member:
            self._retry_wakeup.set()
        self._wake()

    def _detach(self, member: Member) -> None:
        """Take the member's endpoint out of service; it closes once its calls end."""
        endpoint = member.endpoint
        if endpoint is None:
            return
        member.endpoint = None
        self._retirer.retire(endpoint, member.calls)
        member.calls = 0
        member.nowait = member.leased = False
