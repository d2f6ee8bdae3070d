"""`run_race`: copies of one attempt, sent a delay apart, the first final outcome wins.

All copies run in a nursery that the caller's task opens and waits for, so none
outlives the call. The caller's task only keeps time: it sends the next copy when
``delay`` has passed since the last one without a decision, as long as ``may_hedge()``
allows (the hedging budget). Each copy is one attempt through the queue (``copy()``),
which returns an `Outcome` and raises nothing but cancellation.

- A *final* outcome (a successful answer) wins: the nursery is cancelled, which cancels
  every other copy wherever it is (queued, waiting for an endpoint, or running).
- Any other outcome (an error, a response worth a retry) loses; when no copy is left
  running and none won, the last one to end is the attempt's outcome.
- Responses that are not the outcome (a copy that answered in the same tick as the
  winner, a loser replaced by a later one) are closed (`discard`).
- ``may_hedge()`` raising (a hook of the caller's) ends the race: the copies are
  cancelled and the error is the call's outcome, raised alone.

A caller cancelled before the race is decided gets one ``trio.Cancelled``, not the
nursery's group of them, and whatever response the race held is closed. A race decided
in the same tick as the caller's cancellation returns its outcome: the attempt
completed, and the cancellation takes effect at the caller's next checkpoint, as it
does after the queue's fast path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

from ._outcome import Outcome, discard

__all__ = ["raise_cancelled", "run_race"]


@attrs.define(eq=False)
class _Race:
    started: float
    outlasted: Callable[[float], None] | None
    decided: trio.Event = attrs.field(factory=trio.Event)
    scope: trio.CancelScope | None = None
    running: int = 0
    won: bool = False
    held: Outcome | None = None
    """The winner, or the last copy to fail so far."""
    first_ended: bool = False

    async def run_copy(self, copy: Callable[[int], Awaitable[Outcome]], number: int) -> None:
        outcome = await copy(number)
        self.running -= 1
        if number == 0:
            self.first_ended = True
        if self.won:
            await discard(outcome)  # answered in the tick the race was won: too late
            return
        replaced, self.held = self.held, outcome
        if outcome.final:
            self.won = True
            self.decided.set()
            if not self.first_ended and self.outlasted is not None:
                # The first copy is cancelled unanswered: all that is known of its
                # latency is that it is longer than this.
                self.outlasted(trio.current_time() - self.started)
            assert self.scope is not None, "copies run inside the race's nursery"
            self.scope.cancel(reason="another copy of the request answered first")
        elif self.running == 0:
            self.decided.set()
        await discard(replaced)


async def run_race(
    copy: Callable[[int], Awaitable[Outcome]],
    *,
    delay: float,
    max_copies: int,
    may_hedge: Callable[[], bool],
    outlasted: Callable[[float], None] | None = None,
) -> Outcome:
    """Run ``copy(0)`` now, then ``copy(1)``, ... every ``delay`` seconds without a
    decision, up to ``max_copies`` in all while ``may_hedge()`` says yes; return the
    race's outcome. When a later copy wins while the first still runs, ``outlasted``
    gets the seconds the first had run: a lower bound of its latency."""
    started = trio.current_time()
    race = _Race(started, outlasted)
    refused: Exception | None = None  # may_hedge() raised: the call's outcome
    try:
        async with trio.open_nursery() as nursery:
            race.scope = nursery.cancel_scope
            race.running = 1
            nursery.start_soon(race.run_copy, copy, 0)
            sent = 1
            while sent < max_copies:
                with trio.move_on_at(started + sent * delay):
                    await race.decided.wait()
                if race.decided.is_set():
                    break
                try:
                    allowed = may_hedge()
                except Exception as exc:
                    # A hook of the caller's (replayable) failed: the race ends with its
                    # error alone, not in a group with the copies' cancellations.
                    refused = exc
                    nursery.cancel_scope.cancel(reason="hedging's hook raised")
                    break
                if not allowed:
                    break
                race.running += 1
                nursery.start_soon(race.run_copy, copy, sent)
                sent += 1
    except BaseExceptionGroup as group:
        _, rest = group.split(trio.Cancelled)
        if rest is None and race.decided.is_set():
            assert race.held is not None, "a decided race holds its outcome"
            return race.held
        await discard(race.held)
        if rest is None:
            raise_cancelled(group)
        raise
    if refused is not None:
        await discard(race.held)
        raise refused
    assert race.held is not None, "the nursery ends once the race is decided"
    return race.held


def raise_cancelled(group: BaseExceptionGroup[BaseException]) -> None:
    """Raise one ``trio.Cancelled`` of ``group``, which holds nothing else.

    The copies' nursery wraps each task's cancellation in a group; the caller of one
    request expects the one ``Cancelled`` that a call raises. Any of them does: the
    cancel scope that catches it looks at its own state, not at the instance.
    """
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    context = leaf.__context__
    try:
        raise leaf
    finally:
        leaf.__context__ = context
        del leaf, context
