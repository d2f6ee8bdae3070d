"""`run_race`: copies a delay apart, the first final outcome wins, none outlives the race."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from tests.support.resilience import Response
from trio_pool._resilience._outcome import Outcome
from trio_pool._resilience._race import run_race


def copies(
    script: list[tuple[float, Outcome]], log: list[str], shielded: frozenset[int] = frozenset()
) -> Callable[[int], Awaitable[Outcome]]:
    """Copy n sleeps ``script[n][0]`` and ends with ``script[n][1]``; those in
    ``shielded`` answer even when cancelled (an endpoint that does not stop at once)."""

    async def copy(n: int) -> Outcome:
        delay, outcome = script[n]
        log.append(f"{n} sent at {trio.current_time():g}")
        try:
            with trio.CancelScope(shield=n in shielded):
                await trio.sleep(delay)
        except trio.Cancelled:
            log.append(f"{n} cancelled at {trio.current_time():g}")
            raise
        return outcome

    return copy


def answer(text: str) -> Outcome:
    return Outcome(Response(text, text), False, False, True)


def failure(error: Exception) -> Outcome:
    return Outcome(error, True, True, False)


async def test_the_first_final_outcome_wins_and_the_others_are_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    winner = answer("second")
    script = [(1.0, answer("first")), (0.2, winner), (1.0, answer("third"))]
    outcome = await run_race(copies(script, log), delay=0.1, max_copies=3, may_hedge=lambda: True)
    assert outcome is winner
    assert log[:3] == ["0 sent at 0", "1 sent at 0.1", "2 sent at 0.2"]
    assert sorted(log[3:]) == ["0 cancelled at 0.3", "2 cancelled at 0.3"]


async def test_may_hedge_is_asked_before_each_copy(autojump_clock: trio.testing.MockClock) -> None:
    log: list[str] = []
    asked: list[float] = []

    def may_hedge() -> bool:
        asked.append(trio.current_time())
        return len(asked) < 2

    script = [(1.0, answer("a")), (1.0, answer("b")), (1.0, answer("c"))]
    await run_race(copies(script, log), delay=0.1, max_copies=3, may_hedge=may_hedge)
    assert asked == pytest.approx([0.1, 0.2])
    assert [line for line in log if "sent" in line] == ["0 sent at 0", "1 sent at 0.1"]


async def test_failures_wait_for_the_others_and_the_last_one_is_the_outcome(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    first, last = failure(ConnectionError("0")), failure(ConnectionError("1"))
    outcome = await run_race(
        copies([(0.5, first), (0.5, last)], log), delay=0.1, max_copies=2, may_hedge=lambda: True
    )
    assert outcome is last
    assert trio.current_time() == pytest.approx(0.6)


async def test_a_failure_before_the_delay_ends_the_race(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    error = failure(ConnectionError("0"))
    outcome = await run_race(
        copies([(0.05, error)], log), delay=0.1, max_copies=2, may_hedge=lambda: True
    )
    assert outcome is error
    assert trio.current_time() == pytest.approx(0.05), "no hedge after the only copy failed"


async def test_responses_that_lose_are_closed(autojump_clock: trio.testing.MockClock) -> None:
    log: list[str] = []
    loser = Outcome(Response("busy", "x"), False, True, False)  # worth a retry: not final
    winner, late = answer("winner"), answer("late")
    script = [(0.3, loser), (0.25, winner), (0.2, late)]
    race = copies(script, log, shielded=frozenset({2}))
    outcome = await run_race(race, delay=0.1, max_copies=3, may_hedge=lambda: True)
    # Copy 0 answers at 0.3 (not final), copy 1 wins at 0.35, copy 2 answers at 0.4
    # all the same, and the race waits for it: nothing outlives it.
    assert outcome is winner
    assert trio.current_time() == pytest.approx(0.4)
    assert loser.value.closed == 1
    assert late.value.closed == 1, "an answer after the winner's is closed"
    assert winner.value.closed == 0


async def test_a_cancelled_caller_gets_one_cancelled_and_the_held_response_is_closed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    held = Outcome(Response("busy", "x"), False, True, False)
    script = [(0.05, held), (1.0, answer("b")), (1.0, answer("c"))]
    raised: list[BaseException] = []
    with trio.move_on_after(0.15):
        try:
            # Copy 0 fails at once with a response worth a retry, but the race goes on
            # only while a copy runs: give it two before the first answers.
            await run_race(copies(script, log), delay=0.0, max_copies=3, may_hedge=lambda: True)
        except BaseException as exc:
            raised.append(exc)
            raise
    assert [type(exc) for exc in raised] == [trio.Cancelled]
    assert held.value.closed == 1
    assert sorted(log[-2:]) == ["1 cancelled at 0.15", "2 cancelled at 0.15"]


async def test_other_errors_propagate_as_the_nurserys_group(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def broken(n: int) -> Outcome:
        raise KeyboardInterrupt

    with pytest.raises(BaseExceptionGroup) as raised:
        await run_race(broken, delay=0.1, max_copies=2, may_hedge=lambda: True)
    assert raised.group_contains(KeyboardInterrupt)


async def test_a_race_won_as_the_caller_is_cancelled_returns_the_winner(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The answer comes in the tick the caller's deadline passes: the attempt completed,
    # so it is returned (not lost, not closed); the cancellation takes effect at the
    # caller's next checkpoint.
    log: list[str] = []
    winner = answer("just in time")
    got: list[Outcome] = []
    with trio.move_on_after(0.1) as scope:
        race = copies([(0.1, winner)], log, shielded=frozenset({0}))
        got.append(await run_race(race, delay=1.0, max_copies=2, may_hedge=lambda: True))
        await trio.lowlevel.checkpoint()
    assert scope.cancelled_caught
    assert got == [winner]
    assert winner.value.closed == 0


async def test_a_first_copy_outlasted_by_the_winner_reports_how_long_it_ran(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    outlasted: list[float] = []
    script = [(1.0, answer("slow")), (0.05, answer("fast"))]
    await run_race(
        copies(script, log),
        delay=0.1,
        max_copies=2,
        may_hedge=lambda: True,
        outlasted=outlasted.append,
    )
    assert outlasted == [pytest.approx(0.15)], "a lower bound of the first copy's latency"
    outlasted.clear()
    await run_race(
        copies([(0.05, answer("quick"))], log),
        delay=0.1,
        max_copies=2,
        may_hedge=lambda: True,
        outlasted=outlasted.append,
    )
    assert outlasted == [], "a first copy that answers is observed by the attempt itself"
