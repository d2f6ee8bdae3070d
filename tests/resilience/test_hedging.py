"""`Hedging`: its configuration, and hedged requests through a queue, in virtual time."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import trio.testing

from tests.support.resilience import POOLS, Response, open_queue
from trio_pool import Hedging, RetryBudget, RetryPolicy
from trio_pool.testing import EndpointKind

KINDS = [EndpointKind.NOWAIT, EndpointKind.PLAIN, EndpointKind.INSTANT]

# -- configuration ---------------------------------------------------------------------------


def test_defaults() -> None:
    hedging = Hedging()
    assert hedging.delay is None
    assert hedging.percentile == 0.95
    assert hedging.max_attempts == 2
    assert hedging.budget == RetryBudget(percent=0.1)
    assert hedging.replayable is None


def test_each_hedging_gets_a_budget_of_its_own() -> None:
    assert Hedging().budget is not Hedging().budget


def test_arguments_are_keywords_only() -> None:
    with pytest.raises(TypeError):
        Hedging(0.01)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"delay": -0.1}, ValueError, "delay must be a finite number of seconds >= 0"),
        ({"delay": float("inf")}, ValueError, "delay must be a finite"),
        ({"delay": "10ms"}, TypeError, "delay must be a number of seconds or None"),
        ({"percentile": 0}, ValueError, "percentile must be between 0 and 1"),
        ({"percentile": 1}, ValueError, "percentile must be between 0 and 1"),
        ({"percentile": 95}, ValueError, "percentile must be between 0 and 1"),
        ({"percentile": None}, TypeError, "percentile must be a number"),
        ({"max_attempts": 1}, ValueError, "pass hedging=None"),
        ({"max_attempts": 2.0}, TypeError, "max_attempts must be an int"),
        ({"budget": 0.1}, TypeError, "budget"),
        ({"replayable": "GET"}, TypeError, "replayable must be callable"),
    ],
)
def test_bad_arguments(options: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Hedging(**options)


def test_hedging_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Hedging().delay = 1.0  # type: ignore[misc]


async def test_the_queue_refuses_what_is_not_hedging() -> None:
    with pytest.raises(TypeError, match="hedging must be a Hedging or None, got float"):
        async with open_queue(hedging=0.01):
            pass


# -- hedged requests through a queue ---------------------------------------------------------


def first_slow(slow: float, fast: float) -> Any:
    """A plan: the first copy of each request takes ``slow`` seconds, the others ``fast``."""
    return lambda request, copy, address: (slow if copy == 0 else fast, None)


@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize("kind", KINDS)
async def test_a_slow_request_is_hedged_to_another_endpoint_and_the_first_answer_wins(
    autojump_clock: trio.testing.MockClock, pool: str, kind: EndpointKind
) -> None:
    async with open_queue("ab", kind=kind, pool=pool, hedging=Hedging(delay=0.05)) as setup:
        setup.endpoints.plan = first_slow(1.0, 0.01)
        start = trio.current_time()
        response = await setup.queue.call("x")
        assert trio.current_time() - start == pytest.approx(0.06)
        first, second = setup.endpoints.sent_to("x")
        assert first != second, "the hedge goes to another endpoint"
        assert response.address == second
        assert sorted(setup.endpoints.outcomes("x"), key=str) == ["Cancelled", "response"]
        assert setup.endpoints.leaked() == []
        assert setup.metric("hedges_total") == 1


async def test_an_answer_within_the_delay_sends_no_hedge(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_queue(hedging=Hedging(delay=0.05)) as setup:
        for handle in setup.endpoints.handles.values():
            handle.latency = 0.049
        for n in range(10):
            await setup.queue.call(n)
        assert setup.endpoints.calls() == 10
        assert setup.metric("hedges_total") == 0


async def test_copies_go_out_every_delay_up_to_max_attempts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hedging = Hedging(delay=0.1, max_attempts=3)
    async with open_queue("abcd", hedging=hedging) as setup:
        for handle in setup.endpoints.handles.values():
            handle.latency = 1.0
        await setup.queue.call("x")
        times = sorted(call.bound_at for h in setup.endpoints.handles.values() for call in h.calls)
        assert [round(t, 6) for t in times] == [0.0, 0.1, 0.2]
        assert len(set(setup.endpoints.sent_to("x"))) == 3
        assert setup.metric("hedges_total") == 2


async def test_the_hedging_budget_refuses(autojump_clock: trio.testing.MockClock) -> None:
    hedging = Hedging(delay=0.01, budget=RetryBudget(min_per_second=0, percent=0))
    async with open_queue(hedging=hedging) as setup:
        for handle in setup.endpoints.handles.values():
            handle.latency = 1.0
        await setup.queue.call("x")
        assert setup.endpoints.calls() == 1
        assert setup.metric("hedges_refused_total") == 1
        assert setup.metric("hedges_total") == 0


async def test_hedges_are_held_to_their_budget(autojump_clock: trio.testing.MockClock) -> None:
    hedging = Hedging(delay=0.01, budget=RetryBudget(ttl=10, min_per_second=0, percent=0.1))
    async with open_queue(hedging=hedging) as setup:
        for handle in setup.endpoints.handles.values():
            handle.latency = 0.02  # every call is slower than the delay
        for n in range(200):
            await setup.queue.call(n)
        assert setup.metric("hedges_total") == 20, "a tenth of the requests"


async def test_a_request_that_cannot_be_replayed_is_not_hedged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hedging = Hedging(delay=0.01, replayable=lambda request: request.startswith("GET"))
    async with open_queue(hedging=hedging) as setup:
        for handle in setup.endpoints.handles.values():
            handle.latency = 1.0
        await setup.queue.call("POST /orders")
        assert setup.endpoints.calls() == 1
        await setup.queue.call("GET /orders")
        assert setup.endpoints.calls() == 3


class HookFailed(Exception):
    pass


def failing_hook(request: Any) -> bool:
    raise HookFailed(f"cannot judge {request!r}")


@pytest.mark.parametrize("retry", [None, RetryPolicy()], ids=["hedging", "with-retries"])
async def test_a_replayable_hook_that_raises_is_the_call_s_error_alone(
    autojump_clock: trio.testing.MockClock, retry: RetryPolicy | None
) -> None:
    hedging = Hedging(delay=0.01, replayable=failing_hook)
    async with open_queue(hedging=hedging, retry=retry) as setup:
        for handle in setup.endpoints.handles.values():
            handle.latency = 1.0  # slower than the delay: a hedge is asked for
        with pytest.raises(HookFailed, match="cannot judge 'x'"):
            await setup.queue.call("x")
        assert trio.current_time() == pytest.approx(0.01), "at once, the copy cancelled"
        assert setup.endpoints.leaked() == []
        assert setup.endpoints.in_flight() == 0
        assert setup.metric("hedges_total") == 0


async def test_an_error_does_not_win_while_another_copy_may_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_queue("ab", hedging=Hedging(delay=0.1)) as setup:
        # The first copy answers after 0.5 s; the hedge fails at once.
        setup.endpoints.plan = lambda request, copy, address: (
            (0.5, None) if copy == 0 else (0.0, ConnectionError("hedge failed"))
        )
        response = await setup.queue.call("x")
        assert isinstance(response, Response)
        assert trio.current_time() == pytest.approx(0.5)
        assert setup.endpoints.outcomes("x").count("ConnectionError") == 1


async def test_when_every_copy_fails_the_last_error_is_raised(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_queue("ab", hedging=Hedging(delay=0.1)) as setup:
        handles = setup.endpoints.handles
        handles["a"].latency = handles["b"].latency = 0.3
        errors = {a: ConnectionError(a) for a in "ab"}
        for address, handle in handles.items():
            handle.call_error = errors[address]
        with pytest.raises(ConnectionError) as raised:
            await setup.queue.call("x")
        last = setup.endpoints.sent_to("x")[-1]
        assert raised.value is errors[last]
        assert trio.current_time() == pytest.approx(0.4)


async def test_a_response_worth_a_retry_does_not_win(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(attempts=1, retry_on=lambda outcome: outcome.request == "busy")
    async with open_queue("ab", hedging=Hedging(delay=0.1), retry=policy) as setup:
        # The hedge answers first (at 0.15 s), with a response worth a retry.
        setup.endpoints.plan = lambda request, copy, address: (0.3 if copy == 0 else 0.05, None)
        endpoints = setup.endpoints

        def respond(address: Any, request: Any) -> Response:
            hedged_to = endpoints.sent_to(request)[1]
            return endpoints._respond(address, "busy" if address == hedged_to else request)

        for handle in endpoints.handles.values():
            handle.respond = respond
        response = await setup.queue.call("x")
        assert trio.current_time() == pytest.approx(0.3), "the first copy's answer won"
        assert response.request == "x"
        (busy,) = [r for r in setup.endpoints.responses if r.request == "busy"]
        assert busy.closed == 1, "the losing response is closed"


async def test_without_a_delay_the_recent_percentile_sets_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_queue("abc", hedging=Hedging(percentile=0.9)) as setup:
        # 1 ms to 100 ms, evenly: the 90th percentile (rank 0.9 * 101) is 91 ms.
        setup.endpoints.plan = lambda request, copy, address: (0.001 * (1 + request), None)
        for n in range(100):
            assert setup.queue.statistics().hedge_delay is None, "no estimate yet"
            await setup.queue.call(n)
        assert setup.metric("hedges_total") == 0, "nothing is hedged before the estimate"
        assert setup.queue.statistics().hedge_delay == pytest.approx(0.091)
        setup.endpoints.plan = first_slow(1.0, 0.01)
        start = trio.current_time()
        await setup.queue.call("slow")
        assert trio.current_time() - start == pytest.approx(0.091 + 0.01)
        assert setup.metric("hedges_total") == 1


async def test_the_estimated_delay_is_at_least_a_millisecond(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_queue(hedging=Hedging(percentile=0.5)) as setup:
        for n in range(20):
            await setup.queue.call(n)  # instant answers: a percentile of zero
        assert setup.queue.statistics().hedge_delay == 0.001
        assert setup.metric("hedges_total") == 0


async def test_a_delay_of_zero_sends_every_copy_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_queue("abc", hedging=Hedging(delay=0, max_attempts=3)) as setup:
        for handle in setup.endpoints.handles.values():
            handle.latency = 0.5
        await setup.queue.call("x")
        assert sorted(setup.endpoints.sent_to("x")) == ["a", "b", "c"]
        assert trio.current_time() == pytest.approx(0.5)


async def test_a_cancelled_caller_cancels_every_copy_and_gets_one_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_queue("abc", hedging=Hedging(delay=0.1, max_attempts=3)) as setup:
        setup.endpoints.plan = lambda request, copy, address: (10.0, None)
        raised: list[BaseException] = []
        with trio.move_on_after(0.25):
            try:
                await setup.queue.call("x")
            except BaseException as exc:
                raised.append(exc)
                raise
        assert len(raised) == 1
        assert type(raised[0]) is trio.Cancelled, "one Cancelled, not the nursery's group"
        assert setup.endpoints.outcomes("x") == ["Cancelled"] * 3
        assert setup.endpoints.in_flight() == 0
        assert trio.current_time() == pytest.approx(0.25)


async def test_queued_hedges_are_dropped_when_the_first_answers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_queue("a", hedging=Hedging(delay=0.1)) as setup:
        handle = setup.endpoints.handles["a"]
        handle.latency = 0.3
        handle.allow(1)  # one call at a time: the hedge waits in the queue
        assert await setup.queue.call("x")
        assert trio.current_time() == pytest.approx(0.3)
        assert setup.metric("hedges_total") == 1
        # The worker still holds the abandoned hedge while no endpoint is ready; once one
        # is, it drops it rather than bind it.
        handle.allow(None)
        await trio.testing.wait_all_tasks_blocked()
        assert setup.queue.statistics().pending == 0
        assert len(handle.calls) == 1, "the hedge never reached an endpoint"
