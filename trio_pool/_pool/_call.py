"""Call accounting: a request bound to a member's endpoint, counted until it ends.

`CallAccounting.bind` makes the endpoint's call and counts it at once (against the
member's load, the pool's calls in flight, the endpoint's drain), so the very next pick
sees it. The `PoolCall` it returns is a `BoundCall` that the caller awaits in its own
task; however the call ends (returns, raises, is cancelled, is dropped unawaited), the
accounting ends exactly once. A leased call (`Lease`) stays counted until its lease is
released too; its latency is still measured to the call's return.

An endpoint whose ``call`` raises at once is answered the same way as one whose call
raises later: the request fails with that error, the endpoint stays in the pool.

For an endpoint without ``ready_nowait()``, the awaited `PoolCall` first awaits the
endpoint's ``ready()`` again, for the next request (`ReadyCache.rearm`), then sends its
own request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from functools import partial
from typing import Any, Generic, TypeVar

import attrs
import trio

from ._bound import BoundCall, CallOutcome
from ._health import Health
from ._lease import Lease
from ._member import EndpointState, Member
from ._ready_cache import ReadyCache
from ._retire import Retirer

__all__ = ["CallAccounting", "PoolCall"]

Rsp = TypeVar("Rsp")

OK = CallOutcome.OK
FAILED = CallOutcome.FAILED
CANCELLED = CallOutcome.CANCELLED
DROPPED = CallOutcome.DROPPED
EVICTED = EndpointState.EVICTED


async def _raise(error: Exception) -> Any:
    raise error


@attrs.define(eq=False)
class CallAccounting:
    """Binds calls to members and ends their accounting; counts the calls in flight.

    The ends of calls on members still in the pool feed ``health`` (outlier detection,
    ``Retry-After`` penalties), if the pool has one; calls on members that left feed
    nothing, so an endpoint already removed is never ejected.
    """

    _cache: ReadyCache
    _retirer: Retirer
    _health: Health | None = None
    in_flight: int = 0
    """Calls bound and not yet ended, leases included."""
    now: Callable[[], float] = trio.current_time
    """Trio's time; `use_clock` makes it the run's clock, read at a third of the cost."""

    def use_clock(self, clock: trio.abc.Clock) -> None:
        """Read the time from ``clock`` (the run's, as ``drive()`` starts) directly."""
        self.now = clock.current_time

    def bind(self, member: Member, request: Any, now: float) -> PoolCall[Any]:
        """Bind ``request`` to ``member``'s endpoint at ``now``, and count it."""
        endpoint = member.endpoint
        lease: Lease | None = None
        try:
            if member.leased:
                lease = Lease()
                call: Awaitable[Any] = endpoint.call_leased(request, lease)
            else:
                call = endpoint.call(request)
        except Exception as exc:
            call, lease = _raise(exc), None
        # Out of the ready list first, then loaded: a policy that indexes the ready list
        # by load (`LeastLoaded`) then has one change to make, not two.
        rearm = not member.nowait and self._cache.bound(member)
        member.load.start(now)
        member.calls += 1
        self.in_flight += 1
        return PoolCall(call, self, member, endpoint, now, lease, rearm)

    def ended(
        self,
        member: Member,
        endpoint: Any,
        started: float,
        answered: float,
        outcome: CallOutcome,
        error: BaseException | None = None,
    ) -> None:
        """A call bound at ``started`` to ``member``'s ``endpoint`` ended; ``error`` is
        what it raised, or why its answer counts as failed, if known."""
        member.load.end(started, answered, outcome)
        # A cancelled or dropped call says nothing; nor does one on a member that left.
        if (outcome is OK or outcome is FAILED) and member.state is not EVICTED:
            failed = outcome is FAILED
            if failed:
                member.call_failures += 1
                if error is not None:
                    member.last_call_error = error
            else:
                member.call_failures = 0
            if self._health is not None:
                self._health.observe(member, failed, answered)
        self.in_flight -= 1
        if member.endpoint is endpoint:
            member.calls -= 1
        else:
            self._retirer.call_ended(endpoint)

    def penalise(self, member: Member, endpoint: Any, until: float) -> None:
        """``member``'s ``endpoint`` answered that it wants no more calls until
        ``until``: weigh it down until then (see `weight`)."""
        if member.endpoint is not endpoint or member.state is EVICTED:
            return  # an endpoint out of service: nothing to prefer others to
        if until <= member.penalised_until:
            return
        member.penalised_until = until
        self._cache.relist(member)  # a policy that indexes its weight sees it now
        if self._health is not None:
            self._health.penalise(member, until)

    def rearm(self, member: Member, endpoint: Any) -> Awaitable[None]:
        return self._cache.rearm(member, endpoint)

    def rearm_later(self, member: Member, endpoint: Any) -> None:
        self._cache.rearm_later(member, endpoint)


class PoolCall(BoundCall[Rsp], Generic[Rsp]):
    """The call a balanced pool binds: a `BoundCall` whose end is the pool's accounting.

    It runs on every request, so it does in one frame what `BoundCall` does in two.
    """

    __slots__ = ("_accounting", "_endpoint", "_lease", "_member", "_rearm", "_started")

    def __init__(
        self,
        call: Awaitable[Rsp],
        accounting: CallAccounting,
        member: Member,
        endpoint: Any,
        started: float,
        lease: Lease | None,
        rearm: bool,
    ) -> None:
        self._coroutine = call
        self._on_done = None  # the accounting ends in _finish, not through a callback
        self._accounting: CallAccounting | None = accounting
        self._member = member
        self._endpoint = endpoint
        self._started = started
        self._lease = lease
        self._rearm = rearm

    def __await__(self) -> Generator[Any, None, Rsp]:
        accounting = self._accounting
        if accounting is None:
            raise RuntimeError("a bound call is awaited once, and not after close()")
        if self._rearm:
            self._rearm = False
            try:
                yield from accounting.rearm(self._member, self._endpoint).__await__()
            except BaseException:
                # Cancelled before the request was sent: it never will be.
                self._drop()
                raise
        try:
            response = yield from self._coroutine.__await__()
        except Exception as exc:
            self._finish(FAILED, exc)
            raise
        except BaseException:
            self._finish(CANCELLED)
            raise
        self._finish(OK)
        return response

    def close(self) -> None:
        """Drop the call unawaited, ending its accounting."""
        if self._accounting is None:
            return
        if self._rearm:
            self._rearm = False
            self._accounting.rearm_later(self._member, self._endpoint)
        self._drop()

    def _drop(self) -> None:
        try:
            self._close_coroutine()
        finally:
            self._finish(DROPPED)

    def _finish(self, outcome: CallOutcome, error: BaseException | None = None) -> None:
        accounting, self._accounting = self._accounting, None
        if accounting is None:
            return
        answered = accounting.now()
        lease = self._lease
        if lease is not None and outcome is OK:
            if lease.retry_after is not None:
                accounting.penalise(self._member, self._endpoint, answered + lease.retry_after)
            lease.when_released(partial(self._end_leased, accounting, lease, answered))
        else:
            accounting.ended(self._member, self._endpoint, self._started, answered, outcome, error)

    def _end_leased(self, accounting: CallAccounting, lease: Lease, answered: float) -> None:
        outcome = FAILED if lease.failed else OK
        accounting.ended(
            self._member, self._endpoint, self._started, answered, outcome, lease.failure
        )
