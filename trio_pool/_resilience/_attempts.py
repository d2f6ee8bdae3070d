"""`Resilience`: the attempts of one ``queue.call`` under a retry policy and hedging.

One per queue, holding what a destination keeps between calls: the balances of its
retry and hedging budgets, and its recent latency. ``call`` runs in the caller's task:

1. each call deposits into both budgets;
2. an *attempt* is one select-and-bind through the queue (the fast path or the worker,
   FIFO and failfast as any request) and the awaited call; with hedging, it is a race
   of copies of it (`run_race`), in a nursery of the caller's;
3. its outcome is classified once: never retried (the queue's own refusals), worth
   another try (``retry_on``), or final;
4. a retry is sent after the backoff (or the outcome's ``retry_after``, if longer),
   when attempts are left, the request is ``replayable``, the wait fits in what is left
   of the call's ``dispatch_timeout``, and the budget has one, with every endpoint the
   request was sent to so far as the ones to avoid;
5. otherwise the last outcome is delivered as it was.

A call's ``dispatch_timeout`` bounds all its waiting together, as a pool timeout bounds
a request's wait for connections however often it is retried: each attempt waits for an
endpoint at most what is left of it (and still takes one that is ready at once), and the
wait before a retry is taken from it too. The time an endpoint spends on an attempt is
not waiting, and does not count.

Every attempt runs in the caller's task or in its nursery, so cancelling the caller
cancels them all and none outlives the call; the caller gets exactly one outcome. A
response that is not delivered (retried, or losing a race) is closed if it can be.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Hashable
from collections.abc import Set as AbstractSet
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import attrs
import trio

from .._close import close_unawaited
from .._errors import DispatchTimeoutError, PoolError
from .._metrics import CounterLike
from .._validate import check_seconds
from ._budget import BudgetAccount
from ._hedging import Hedging
from ._latency import LatencyWindow
from ._outcome import Outcome, discard
from ._race import run_race
from ._retry import NEVER_RETRIED, RetryPolicy

__all__ = ["Bind", "Resilience", "ResilienceMetrics"]

Req = TypeVar("Req")
Rsp = TypeVar("Rsp")

Bind = Callable[
    [Any, "float | None", AbstractSet[Hashable], bool], Awaitable[tuple[Awaitable[Any], Any]]
]
"""The queue's select-and-bind for one attempt: ``bind(request, dispatch_timeout, avoid,
first)`` returns the bound call and the address of its endpoint (``None`` if the pool
cannot tell); ``first`` is false for a retry or a hedge."""

# A hedge is never sent sooner than this after the last copy, whatever the estimate:
# latencies of zero (instant endpoints, a virtual clock) would hedge every call.
_MIN_ESTIMATED_DELAY = 0.001


class ResilienceMetrics(Protocol):
    """What `Resilience` counts: the queue's `QueueMetrics` has them."""

    @property
    def retries(self) -> CounterLike: ...
    @property
    def hedges(self) -> CounterLike: ...
    @property
    def retries_refused(self) -> CounterLike: ...
    @property
    def hedges_refused(self) -> CounterLike: ...


@attrs.define(eq=False)
class Resilience(Generic[Req, Rsp]):
    """Retries and hedges for every call of one queue; see the module docstring."""

    _bind: Bind
    _retry: RetryPolicy | None
    _hedging: Hedging | None
    _metrics: ResilienceMetrics
    _retry_account: BudgetAccount | None
    _hedge_account: BudgetAccount | None
    _latency: LatencyWindow | None
    _rng: random.Random
    _elsewhere: Callable[[AbstractSet[Hashable]], bool]
    _closed: Callable[[], Awaitable[object]]

    @classmethod
    def open(
        cls,
        bind: Bind,
        retry: RetryPolicy | None,
        hedging: Hedging | None,
        metrics: ResilienceMetrics,
        now: float,
        elsewhere: Callable[[AbstractSet[Hashable]], bool] = lambda avoid: True,
        closed: Callable[[], Awaitable[object]] = trio.sleep_forever,
    ) -> Resilience[Req, Rsp]:
        """The resilience of a new queue at Trio time ``now``: empty balances.
        ``elsewhere(avoid)`` says whether an endpoint outside ``avoid`` is ready now
        (``True`` if the pool cannot tell); ``closed()`` returns once the queue is
        closed, which ends a retry's backoff."""
        latency = None
        if hedging is not None and hedging.delay is None:
            latency = LatencyWindow(hedging.percentile)
        rng = retry.rng if retry is not None and retry.rng is not None else random.Random()
        return cls(
            bind,
            retry,
            hedging,
            metrics,
            retry.budget.open_account(now) if retry is not None else None,
            hedging.budget.open_account(now) if hedging is not None else None,
            latency,
            rng,
            elsewhere,
            closed,
        )

    # -- what the queue's statistics show ------------------------------------------------

    def retry_balance(self) -> float | None:
        """Retries the retry budget allows now; ``None`` without a retry policy."""
        account = self._retry_account
        return None if account is None else account.balance(trio.current_time())

    def hedge_balance(self) -> float | None:
        """Hedges the hedging budget allows now; ``None`` without hedging."""
        account = self._hedge_account
        return None if account is None else account.balance(trio.current_time())

    def hedge_delay(self) -> float | None:
        """The delay before a hedge now; ``None`` without hedging or an estimate yet."""
        hedging = self._hedging
        if hedging is None:
            return None
        if hedging.delay is not None:
            return hedging.delay
        assert self._latency is not None, "hedging without a delay keeps a latency window"
        estimate = self._latency.estimate
        return None if estimate is None else max(_MIN_ESTIMATED_DELAY, estimate)

    # -- one call -------------------------------------------------------------------------

    async def call(self, request: Req, dispatch_timeout: float | None) -> Rsp:
        """Send ``request`` with retries and hedges; return or raise its one outcome."""
        if dispatch_timeout is not None:
            dispatch_timeout = check_seconds("dispatch_timeout", dispatch_timeout, infinite=True)
        now = trio.current_time()
        if self._retry_account is not None:
            self._retry_account.deposit(now)
        if self._hedge_account is not None:
            self._hedge_account.deposit(now)
        tried: set[Hashable] = set()
        wait = _Wait(dispatch_timeout)
        last = _LastOutcome()
        attempt = 1
        try:
            while True:
                delay = self.hedge_delay()
                if delay is None:
                    outcome = await self._attempt(request, wait, tried, 0, attempt, last)
                else:
                    assert self._hedging is not None, "a hedge delay comes from hedging"
                    outcome = await run_race(
                        partial(self._attempt, request, wait, tried, attempt=attempt, last=last),
                        delay=delay,
                        max_copies=self._hedging.max_attempts,
                        may_hedge=lambda: self._may_hedge(request),
                        outlasted=None if self._latency is None else self._latency.observe,
                    )
                if not outcome.real and last.outcome is not None:
                    # The retry never reached an endpoint: what the last one said stands.
                    await discard(outcome)
                    outcome = last.take()
                    backoff = None
                else:
                    backoff = self._retry_delay(request, outcome, attempt, wait, tried)
                if backoff is None:
                    if outcome.is_error:
                        raise outcome.value
                    # The call may have completed without a schedule point (an instant
                    # endpoint); Trio's rule is one per async call, and a cancellation
                    # arriving now must not lose the response.
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    response: Rsp = outcome.value
                    return response
                # Kept, open, until the retry is sent: if it never is, it is the outcome.
                await last.keep(outcome)
                self._metrics.retries.inc()
                wait.spend(backoff)
                if backoff > 0:
                    # A queue that closes meanwhile sends no retry: the retry fails
                    # at once, and the caller gets the outcome it has.
                    with trio.move_on_after(backoff):
                        await self._closed()
                attempt += 1
        except BaseException:
            # Cancelled, or a hook of the policy raised (that is the outcome then): a
            # response kept for a retry goes.
            await last.release()
            raise

    def _retry_delay(
        self,
        request: Req,
        outcome: Outcome,
        attempt: int,
        wait: _Wait,
        tried: AbstractSet[Hashable],
    ) -> float | None:
        """The delay before the retry after ``attempt`` ended with ``outcome``, or
        ``None`` to deliver the outcome. Withdraws the retry from the budget."""
        retry = self._retry
        if retry is None or not outcome.worth_retry or attempt >= retry.attempts:
            return None
        if retry.replayable is not None and not retry.replayable(request):
            return None
        if retry.distinct_endpoints and tried and not self._elsewhere(tried):
            # No endpoint the request has not tried is ready: waiting a backoff, or a
            # Retry-After, would only delay the answer in hand.
            return None
        delay = retry.backoff.delay(attempt, self._rng)
        if retry.retry_after is not None:
            asked = retry.retry_after(outcome.value)
            if asked is not None:
                delay = max(delay, float(asked))
        if not wait.fits(delay):
            # The retry would start after the call's dispatch timeout: it could only
            # fail with DispatchTimeoutError, and the outcome in hand says more.
            return None
        assert self._retry_account is not None, "a retry policy keeps a budget account"
        if not self._retry_account.try_withdraw(trio.current_time()):
            self._metrics.retries_refused.inc()
            return None
        return delay

    def _may_hedge(self, request: Req) -> bool:
        hedging = self._hedging
        account = self._hedge_account
        assert hedging is not None, "only when hedging"
        assert account is not None, "hedging keeps a budget account"
        if hedging.replayable is not None and not hedging.replayable(request):
            return False
        if not account.try_withdraw(trio.current_time()):
            self._metrics.hedges_refused.inc()
            return False
        self._metrics.hedges.inc()
        return True

    async def _attempt(
        self,
        request: Req,
        wait: _Wait,
        tried: set[Hashable],
        copy: int,
        attempt: int,
        last: _LastOutcome,
    ) -> Outcome:
        """The ``attempt``-th attempt (``copy`` 0) or a hedge of it through the queue;
        raises nothing but cancellation. A retry that is sent lets ``last`` go."""
        started = trio.current_time()
        first = attempt == 1 and copy == 0
        try:
            bound, address = await self._bind(request, wait.left(), tried, first)
        except PoolError as exc:  # the queue's own refusal
            if isinstance(exc, DispatchTimeoutError):
                exc = wait.timed_out(exc)
            return _refused(exc)
        except Exception as exc:
            return self._failed(exc)  # the pool's call raised at once: the request's error
        if copy == 0:
            # Hedges wait while the first copy runs: only the first copy's wait is the
            # call's.
            wait.spend(trio.current_time() - started)
        if address is not None:
            if address in tried and copy == 0 and attempt > 1 and self._distinct():
                # No endpoint the request has not tried was ready: the retry is not sent.
                close_unawaited(bound)
                return _refused(None)
            tried.add(address)
        if copy == 0:
            await last.release()
        try:
            response = await bound
        except Exception as exc:
            return self._failed(exc)
        try:
            worth_retry = self._retry is not None and bool(self._retry.retry_on(response))
        except Exception as exc:
            # A bug in the classifier ends the call with its error, at once; the
            # response it could not judge is closed.
            await discard(Outcome(response, False, False, False))
            return Outcome(exc, True, False, True)
        if not worth_retry and copy == 0 and self._latency is not None:
            # The delay is a percentile of the first copies' latencies: what a hedge
            # waits for. A hedge's own latency, cut short when the first copy wins,
            # would pull it down, and hedge more than the percentile says.
            self._latency.observe(trio.current_time() - started)
        return Outcome(response, False, worth_retry, not worth_retry)

    def _distinct(self) -> bool:
        return self._retry is not None and self._retry.distinct_endpoints

    def _failed(self, error: Exception) -> Outcome:
        if isinstance(error, NEVER_RETRIED):
            return Outcome(error, True, False, False)
        retry = self._retry
        if retry is None:
            return Outcome(error, True, False, False)
        try:
            worth_retry = bool(retry.retry_on(error))
        except Exception as exc:
            return Outcome(exc, True, False, True)
        return Outcome(error, True, worth_retry, False)


def _refused(error: Exception | None) -> Outcome:
    """The outcome of an attempt the queue did not send: its own error (a
    `trio_pool.PoolError`), or ``None`` for a retry that had no endpoint left to go to.
    Never retried, and not real: a call gets its last real outcome instead, if any."""
    return Outcome(error, True, False, False, real=False)


@attrs.define(eq=False, slots=True)
class _LastOutcome:
    """The last outcome an endpoint gave a call whose retry is on its way: delivered if
    the retry is never sent, closed (a response) once it is."""

    outcome: Outcome | None = None

    async def keep(self, outcome: Outcome) -> None:
        """Keep ``outcome``, letting the one kept before go."""
        replaced, self.outcome = self.outcome, outcome
        await discard(replaced)

    def take(self) -> Outcome:
        outcome, self.outcome = self.outcome, None
        assert outcome is not None, "taken only when kept"
        return outcome

    async def release(self) -> None:
        """Let the kept outcome go, if any: close its response."""
        outcome, self.outcome = self.outcome, None
        await discard(outcome)


# The queue takes only positive timeouts; this one still takes an endpoint ready at once.
_NO_WAIT = 1e-9


@attrs.define(eq=False, slots=True)
class _Wait:
    """What is left of one call's ``dispatch_timeout``: ``None`` for no bound."""

    _total: float | None
    _left: float | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._left = self._total

    def left(self) -> float | None:
        """The dispatch timeout of the next attempt."""
        return None if self._left is None else max(self._left, _NO_WAIT)

    def fits(self, delay: float) -> bool:
        """Whether a retry after ``delay`` seconds would start within the timeout."""
        return self._left is None or delay < self._left

    def spend(self, seconds: float) -> None:
        if self._left is not None:
            self._left -= seconds

    def timed_out(self, error: DispatchTimeoutError) -> DispatchTimeoutError:
        """The error of a call whose attempt ran out of its dispatch timeout: the one
        the call would raise without retries, naming the call's timeout, not what was
        left of it for this attempt."""
        total, timeout = self._total, error.dispatch_timeout
        if total is None or timeout is None or timeout == total:
            return error
        reported = DispatchTimeoutError.timed_out(total, error.detail)
        reported.__cause__ = error.__cause__
        return reported
