"""`RetryPolicy`: its configuration, and retries through a queue, on Trio's virtual clock."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from tests.support.resilience import POOLS, Response, WithoutExtensions, open_queue
from trio_pool import (
    Backoff,
    DispatchTimeoutError,
    FailFastError,
    PoolClosedError,
    PoolError,
    Remove,
    RetryBudget,
    RetryPolicy,
)
from trio_pool.testing import EndpointKind

KINDS = [EndpointKind.NOWAIT, EndpointKind.PLAIN, EndpointKind.INSTANT]
AT_ONCE = Backoff(initial=0, maximum=0)

# -- configuration ---------------------------------------------------------------------------


def test_defaults() -> None:
    policy = RetryPolicy()
    assert policy.attempts == 3
    assert policy.budget == RetryBudget()
    assert policy.backoff == Backoff(initial=0.025, maximum=0.25, multiplier=2.0, jitter=1.0)
    assert policy.retry_on(ConnectionError("down")) is True
    assert policy.retry_on("a response") is False
    assert policy.retry_on(KeyboardInterrupt()) is False
    assert policy.replayable is None
    assert policy.retry_after is None


def test_each_policy_gets_a_budget_of_its_own() -> None:
    first, second = RetryPolicy(), RetryPolicy(budget=None)
    assert first.budget is not second.budget, "no shared mutable default"
    assert first == second


def test_arguments_are_keywords_only() -> None:
    with pytest.raises(TypeError):
        RetryPolicy(3)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"attempts": 0}, ValueError, "attempts must be >= 1"),
        ({"attempts": True}, TypeError, "attempts must be an int"),
        ({"attempts": 2.0}, TypeError, "attempts must be an int"),
        ({"budget": 0.2}, TypeError, "budget"),
        ({"backoff": 0.1}, TypeError, "backoff"),
        ({"retry_on": "errors"}, TypeError, "retry_on"),
        ({"replayable": True}, TypeError, "replayable must be callable"),
        ({"retry_after": 3}, TypeError, "retry_after must be callable"),
        ({"rng": 42}, TypeError, "rng must be a random.Random"),
    ],
)
def test_bad_arguments(options: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        RetryPolicy(**options)


def test_a_policy_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        RetryPolicy().attempts = 5  # type: ignore[misc]


async def test_the_queue_refuses_what_is_not_a_policy() -> None:
    with pytest.raises(TypeError, match="retry must be a RetryPolicy or None, got dict"):
        async with open_queue(retry={"attempts": 3}):
            pass


# -- retries through a queue -----------------------------------------------------------------


@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize("kind", KINDS)
async def test_an_error_is_retried_on_endpoints_not_yet_tried(
    autojump_clock: trio.testing.MockClock, pool: str, kind: EndpointKind
) -> None:
    addresses = [f"e{i}" for i in range(6)]
    async with open_queue(addresses, kind=kind, pool=pool, retry=RetryPolicy()) as setup:
        handles = setup.endpoints.handles
        for address in addresses[:5]:
            handles[address].call_error = ConnectionError(address)
        for n in range(20):
            with contextlib.suppress(ConnectionError):
                await setup.queue.call(n)
            sent = setup.endpoints.sent_to(n)
            assert len(sent) == len(set(sent)), f"request {n} went to {sent}: one twice"
            assert len(sent) == 1 or all(handles[a].call_error for a in sent[:-1])
        assert setup.metric("retries_total") > 0


async def test_attempts_count_the_first_try_and_the_last_error_is_raised_as_it_was(
    autojump_clock: trio.testing.MockClock,
) -> None:
    errors = {address: ConnectionError(address) for address in "abcd"}
    async with open_queue("abcd", retry=RetryPolicy(attempts=3, backoff=AT_ONCE)) as setup:
        for address, error in errors.items():
            setup.endpoints.handles[address].call_error = error
        with pytest.raises(ConnectionError) as raised:
            await setup.queue.call("x")
        sent = setup.endpoints.sent_to("x")
        assert len(sent) == 3
        assert raised.value is errors[sent[-1]], "the last attempt's own error, unwrapped"
        assert setup.metric("retries_total") == 2
        assert setup.metric("requests_total") == 3, "each attempt goes through the queue"


async def test_one_attempt_means_no_retry(autojump_clock: trio.testing.MockClock) -> None:
    async with open_queue(retry=RetryPolicy(attempts=1)) as setup:
        for handle in setup.endpoints.handles.values():
            handle.call_error = ConnectionError("down")
        with pytest.raises(ConnectionError):
            await setup.queue.call("x")
        assert setup.endpoints.calls() == 1


async def test_retry_on_gets_the_outcome_and_decides(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[Any] = []

    def retry_on(outcome: Any) -> bool:
        seen.append(outcome)
        return len(seen) == 1  # the first response is worth another try, not the second

    policy = RetryPolicy(retry_on=retry_on, backoff=AT_ONCE)
    async with open_queue("ab", retry=policy, pool="p2c") as setup:
        response = await setup.queue.call("x")
        assert isinstance(response, Response)
        first = seen[0]
        assert seen == [first, response], "called with one argument: each outcome"
        assert {first.address, response.address} == {"a", "b"}
        assert first.closed == 1, "a response that is retried is closed"
        assert response.closed == 0, "the delivered one is the caller's"


async def test_errors_retry_on_declines_are_raised_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(retry_on=lambda outcome: isinstance(outcome, ConnectionError))
    async with open_queue(retry=policy) as setup:
        for handle in setup.endpoints.handles.values():
            handle.call_error = ValueError("bad request")
        with pytest.raises(ValueError, match="bad request"):
            await setup.queue.call("x")
        assert setup.endpoints.calls() == 1


async def test_when_no_attempt_is_left_the_last_response_is_delivered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(attempts=2, retry_on=lambda o: True, backoff=AT_ONCE)
    async with open_queue(retry=policy) as setup:
        response = await setup.queue.call("x")
        first, last = setup.endpoints.responses
        assert response is last
        assert last.closed == 0
        assert first.closed == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_failfast_is_never_retried(
    autojump_clock: trio.testing.MockClock, kind: EndpointKind
) -> None:
    policy = RetryPolicy(retry_on=lambda outcome: True)
    async with open_queue("a", kind=kind, retry=policy, failfast_timeout=1.0) as setup:
        setup.updates.send_nowait(Remove(["a"]))
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        with pytest.raises(FailFastError):
            await setup.queue.call("x")
        assert trio.current_time() - start == 1.0, "one failfast timeout, not three"
        with pytest.raises(FailFastError):
            await setup.queue.call("y")  # the gate is shut: refused at once
        assert trio.current_time() - start == 1.0
        assert setup.metric("retries_total") == 0


async def test_dispatch_timeout_is_never_retried(autojump_clock: trio.testing.MockClock) -> None:
    policy = RetryPolicy(retry_on=lambda outcome: True)
    async with open_queue("a", retry=policy, failfast_timeout=10.0) as setup:
        setup.endpoints.handles["a"].allow(0)
        with pytest.raises(DispatchTimeoutError):
            await setup.queue.call("x", dispatch_timeout=1.0)
        assert setup.metric("retries_total") == 0


async def test_a_dispatch_timeout_bounds_the_waits_of_every_attempt_together(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(backoff=AT_ONCE)
    async with open_queue("ab", retry=policy, failfast_timeout=10.0) as setup:
        a, b = setup.endpoints.handles["a"], setup.endpoints.handles["b"]
        a.allow(0)
        b.allow(0)
        a.latency, a.call_error = 5.0, ConnectionError("a")

        async def let_one_in() -> None:
            await trio.sleep(0.6)
            a.allow(1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(let_one_in)
            with pytest.raises(ConnectionError, match="a"):
                await setup.queue.call("x", dispatch_timeout=1.0)
        assert setup.endpoints.sent_to("x") == ["a"], (
            "the retry timed out waiting: the caller gets what the endpoint said"
        )
        assert trio.current_time() == 0.6 + 5.0 + 0.4, (
            "the retry waits what is left of the timeout (0.4 s of 1 s); the endpoint's "
            "5 s on the first attempt are not waiting"
        )
        assert setup.metric("retries_total") == 1


@pytest.mark.parametrize(("dispatch_timeout", "attempts"), [(1.0, 1), (3.0, 2), (None, 3)])
async def test_a_retry_that_would_start_after_the_dispatch_timeout_is_not_sent(
    autojump_clock: trio.testing.MockClock, dispatch_timeout: float | None, attempts: int
) -> None:
    policy = RetryPolicy(backoff=AT_ONCE, retry_after=lambda outcome: 2.0)
    async with open_queue("ab", retry=policy) as setup:
        setup.endpoints.handles["a"].call_error = ConnectionError("a")
        setup.endpoints.handles["b"].call_error = ConnectionError("b")
        balance = setup.queue.statistics().retry_budget
        with pytest.raises(ConnectionError):
            await setup.queue.call("x", dispatch_timeout=dispatch_timeout)
        assert len(setup.endpoints.sent_to("x")) == attempts, "each 2 s wait that fits"
        assert trio.current_time() == 2.0 * (attempts - 1), "the last error comes at once"
        assert setup.metric("retries_total") == attempts - 1
        assert setup.metric("retries_refused_total") == 0, "not the budget's refusal"
        if attempts == 1:
            assert balance is not None
            assert setup.queue.statistics().retry_budget == pytest.approx(balance + 0.2), (
                "the call's deposit, and nothing withdrawn"
            )


async def test_a_dispatch_timeout_is_checked_with_a_policy() -> None:
    async with open_queue(retry=RetryPolicy()) as setup:
        with pytest.raises(ValueError, match="dispatch_timeout must be > 0"):
            await setup.queue.call("x", dispatch_timeout=0)


async def test_a_closed_queue_is_never_retried(autojump_clock: trio.testing.MockClock) -> None:
    policy = RetryPolicy(retry_on=lambda outcome: True)
    async with open_queue(retry=policy) as setup:
        queue = setup.queue
    with pytest.raises(PoolClosedError):
        await queue.call("x")
    assert setup.metric("retries_total") == 0


async def test_the_budget_refuses_and_the_caller_gets_the_last_outcome(
    autojump_clock: trio.testing.MockClock,
) -> None:
    budget = RetryBudget(min_per_second=0, percent=0)
    async with open_queue(retry=RetryPolicy(budget=budget)) as setup:
        error = ConnectionError("down")
        for handle in setup.endpoints.handles.values():
            handle.call_error = error
        with pytest.raises(ConnectionError) as raised:
            await setup.queue.call("x")
        assert raised.value is error
        assert setup.endpoints.calls() == 1
        assert setup.metric("retries_refused_total") == 1
        assert setup.queue.statistics().retry_budget == 0


async def test_the_budget_holds_a_storm_to_its_share(
    autojump_clock: trio.testing.MockClock,
) -> None:
    budget = RetryBudget(ttl=10, min_per_second=1, percent=0.2)
    async with open_queue(retry=RetryPolicy(budget=budget, backoff=AT_ONCE)) as setup:
        for handle in setup.endpoints.handles.values():
            handle.call_error = ConnectionError("down")
        for n in range(1000):  # 100 per second for 10 s
            with pytest.raises(ConnectionError):
                await setup.queue.call(n)
            await trio.sleep(0.01)
        calls = setup.endpoints.calls()
        # 1000 requests, 200 retries earned, 10 in the reserve (1/s over the 10 s ttl).
        assert calls <= 1000 + 200 + 10
        assert calls >= 1000 + 200
        assert setup.metric("retries_total") == calls - 1000
        # A call ends after its two retries, or when the budget refuses one.
        full = sum(len(setup.endpoints.sent_to(n)) == 3 for n in range(1000))
        assert setup.metric("retries_refused_total") == 1000 - full


async def test_two_queues_sharing_a_policy_keep_balances_of_their_own(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(budget=RetryBudget(min_per_second=0.1, percent=0), backoff=AT_ONCE)
    async with open_queue(retry=policy) as one, open_queue(retry=policy) as other:
        for setup in (one, other):
            for handle in setup.endpoints.handles.values():
                handle.call_error = ConnectionError("down")
        assert one.queue.statistics().retry_budget == 1
        with pytest.raises(ConnectionError):
            await one.queue.call("x")
        assert one.queue.statistics().retry_budget == 0
        assert other.queue.statistics().retry_budget == 1, "one destination, one balance"
        with pytest.raises(ConnectionError):
            await other.queue.call("x")
        assert one.endpoints.calls() == other.endpoints.calls() == 2


async def test_backoff_is_capped_exponential_on_trios_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    backoff = Backoff(initial=0.1, maximum=0.3, multiplier=2.0, jitter=0.0)
    async with open_queue("a", retry=RetryPolicy(attempts=4, backoff=backoff)) as setup:
        handle = setup.endpoints.handles["a"]
        handle.call_error = ConnectionError("down")
        with pytest.raises(ConnectionError):
            await setup.queue.call("x")
        assert [round(call.bound_at, 6) for call in handle.calls] == [0.0, 0.1, 0.3, 0.6]


async def test_jitter_comes_from_the_policys_rng(autojump_clock: trio.testing.MockClock) -> None:
    async def bound_times(seed: int) -> list[float]:
        backoff = Backoff(initial=1.0, maximum=1.0, jitter=1.0)
        policy = RetryPolicy(backoff=backoff, rng=random.Random(seed))
        async with open_queue("a", retry=policy) as setup:
            handle = setup.endpoints.handles["a"]
            handle.call_error = ConnectionError("down")
            start = trio.current_time()
            with pytest.raises(ConnectionError):
                await setup.queue.call("x")
            return [round(call.bound_at - start, 9) for call in handle.calls]

    first = await bound_times(7)
    assert first == await bound_times(7)
    assert first != await bound_times(8)
    assert 0 < first[1] < 1.0


async def test_retry_after_makes_a_retry_wait_longer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    asked: list[Any] = []

    def retry_after(outcome: Any) -> float | None:
        asked.append(outcome)
        return 5.0

    policy = RetryPolicy(attempts=2, backoff=Backoff(initial=1, jitter=0), retry_after=retry_after)
    async with open_queue("a", retry=policy) as setup:
        handle = setup.endpoints.handles["a"]
        error = handle.call_error = ConnectionError("busy")
        with pytest.raises(ConnectionError):
            await setup.queue.call("x")
        assert [call.bound_at for call in handle.calls] == [0.0, 5.0]
        assert asked == [error], "asked once, for the outcome that is retried"


async def test_a_request_that_cannot_be_replayed_is_not_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(replayable=lambda request: request != "stream")
    async with open_queue(retry=policy) as setup:
        for handle in setup.endpoints.handles.values():
            handle.call_error = ConnectionError("down")
        with pytest.raises(ConnectionError):
            await setup.queue.call("stream")
        assert setup.endpoints.calls() == 1
        with pytest.raises(ConnectionError):
            await setup.queue.call("bytes")
        assert setup.endpoints.calls() == 4


async def test_a_failing_classifier_is_the_callers_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def retry_on(outcome: Any) -> bool:
        raise RuntimeError("classifier bug")

    async with open_queue(retry=RetryPolicy(retry_on=retry_on)) as setup:
        with pytest.raises(RuntimeError, match="classifier bug"):
            await setup.queue.call("x")
        (response,) = setup.endpoints.responses
        assert response.closed == 1, "the response it could not judge is closed"
        setup.endpoints.handles["a"].call_error = error = ConnectionError("down")
        setup.endpoints.handles["b"].call_error = error
        setup.endpoints.handles["c"].call_error = error
        with pytest.raises(RuntimeError, match="classifier bug") as raised:
            await setup.queue.call("y")
        assert raised.value.__context__ is error


@pytest.mark.parametrize("avoiding", [False, True])
async def test_through_the_worker_and_a_pool_with_only_the_protocol(
    autojump_clock: trio.testing.MockClock, avoiding: bool
) -> None:
    def wrapper(pool: Any) -> Any:
        return WithoutExtensions(pool, avoiding=avoiding)

    policy = RetryPolicy(attempts=3, backoff=AT_ONCE)
    async with open_queue("abc", retry=policy, pool="p2c", pool_wrapper=wrapper) as setup:
        handles = setup.endpoints.handles
        handles["a"].call_error = handles["b"].call_error = ConnectionError("down")
        outcomes = []
        for n in range(30):
            try:
                outcomes.append(await setup.queue.call(n))
            except ConnectionError:
                outcomes.append(None)
        if avoiding:
            assert all(outcomes), "three attempts on three endpoints, avoiding the tried"
            for n in range(30):
                sent = setup.endpoints.sent_to(n)
                assert len(sent) == len(set(sent))
        assert setup.metric("retries_total") > 0
        assert setup.endpoints.leaked() == []


async def test_cancelled_during_the_backoff_nothing_more_is_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(backoff=Backoff(initial=10, jitter=0))
    async with open_queue(retry=policy) as setup:
        for handle in setup.endpoints.handles.values():
            handle.call_error = ConnectionError("down")
        with trio.move_on_after(5) as scope:
            await setup.queue.call("x")
        assert scope.cancelled_caught
        await trio.sleep(20)
        assert setup.endpoints.calls() == 1


@pytest.mark.parametrize("backoff", [100.0, 1e300])
async def test_a_queue_that_closes_during_the_backoff_ends_the_wait(
    autojump_clock: trio.testing.MockClock, backoff: float
) -> None:
    # A caller that outlives the block (its own nursery) waits for no retry that can
    # never be sent: it gets the outcome it has, when the queue closes.
    policy = RetryPolicy(backoff=Backoff(initial=backoff, maximum=backoff, jitter=0))
    outcomes: list[BaseException] = []

    async def caller(queue: Any) -> None:
        try:
            await queue.call("x")
        except ConnectionError as exc:
            outcomes.append(exc)

    async with trio.open_nursery() as callers, open_queue("a", retry=policy) as setup:
        setup.endpoints.handles["a"].call_error = ConnectionError("down")
        callers.start_soon(caller, setup.queue)
        await trio.sleep(1)
        assert outcomes == [], "in its backoff"
        left = trio.current_time()
    assert trio.current_time() == left
    assert [str(e) for e in outcomes] == ["down"], "the endpoint's error, not a closed queue"
    assert setup.endpoints.calls() == 1


async def test_a_retry_prefers_untried_endpoints_even_when_they_are_busier(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # P2C would go back to "a" (idle) rather than to "b" (three calls in flight).
    async with open_queue("ab", pool="p2c", retry=RetryPolicy(backoff=AT_ONCE)) as setup:
        handles = setup.endpoints.handles
        handles["b"].latency = 10.0
        async with trio.open_nursery() as nursery:
            for n in range(3):
                nursery.start_soon(setup.queue.call, f"busy {n}")
            await trio.testing.wait_all_tasks_blocked()
            handles["b"].latency = 0.0
            handles["a"].call_error = ConnectionError("a fails")
            calls_before = len(handles["a"].calls)
            response = await setup.queue.call("x")
            nursery.cancel_scope.cancel()
        assert response.address == "b"
        assert len(handles["a"].calls) == calls_before + 1


# -- the last real outcome, and retries to distinct endpoints ------------------------------


def busy(address: object, request: object) -> bool:
    return True


@pytest.mark.parametrize("kind", KINDS)
async def test_a_retry_the_queue_cannot_send_delivers_the_last_response_open(
    autojump_clock: trio.testing.MockClock, kind: EndpointKind
) -> None:
    policy = RetryPolicy(retry_on=lambda o: getattr(o, "busy", False), backoff=AT_ONCE)
    async with open_queue("a", kind=kind, retry=policy, failfast_timeout=10.0) as setup:
        setup.endpoints.busy = busy
        handle = setup.endpoints.handles["a"]
        handle.latency = 1.0
        # The retry of the busy answer finds no endpoint ready and gives up waiting.
        recorded = handle.on_call
        assert recorded is not None

        def bound(request: object) -> None:
            recorded(request)
            handle.allow(0)

        handle.on_call = bound
        response = await setup.queue.call("x", dispatch_timeout=0.5)
        assert response is setup.endpoints.responses[0], "what the endpoint said"
        assert response.closed == 0, "kept open while the retry was on its way"
        assert setup.endpoints.sent_to("x") == ["a"]
        assert setup.metric("retries_total") == 1


class NestedError(PoolError):
    """What an endpoint that is itself a balancer of some kind raises."""


async def test_a_pool_error_an_endpoint_raises_is_judged_like_any_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Only the queue's own refusals are never retried; an endpoint's error is its
    # outcome, which retry_on judges, whatever its type.
    policy = RetryPolicy(attempts=2, retry_on=lambda o: isinstance(o, NestedError), backoff=AT_ONCE)
    async with open_queue("ab", retry=policy, pool="round_robin") as setup:
        setup.endpoints.handles["a"].call_error = NestedError("a's own pool is empty")
        for n in range(4):
            response = await setup.queue.call(n)
            assert response.address == "b"
        retried = [n for n in range(4) if setup.endpoints.sent_to(n) == ["a", "b"]]
        assert retried, "round robin sent some to a first"
        assert setup.metric("retries_total") == len(retried)


@pytest.mark.parametrize("pool", list(POOLS))
@pytest.mark.parametrize("kind", KINDS)
async def test_distinct_endpoints_sends_a_retry_only_where_the_request_has_not_been(
    autojump_clock: trio.testing.MockClock, kind: EndpointKind, pool: str
) -> None:
    policy = RetryPolicy(
        retry_on=lambda o: getattr(o, "busy", False), backoff=AT_ONCE, distinct_endpoints=True
    )
    async with open_queue("ab", kind=kind, pool=pool, retry=policy) as setup:
        setup.endpoints.busy = busy
        response = await setup.queue.call("x")
        answered = [str(r.address) for r in setup.endpoints.responses]
        assert sorted(answered) == ["a", "b"], "two endpoints, two attempts of the three"
        assert setup.endpoints.outcomes("x") == ["response", "response"], (
            "no third attempt: none is left that the request has not tried"
        )
        assert response is setup.endpoints.responses[-1]
        assert response.closed == 0
        assert setup.endpoints.responses[0].closed == 1, "closed once the retry was sent"
        assert setup.endpoints.leaked() == []
        assert setup.endpoints.in_flight() == 0


async def test_distinct_endpoints_with_one_endpoint_sends_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(
        retry_on=lambda o: getattr(o, "busy", False), backoff=AT_ONCE, distinct_endpoints=True
    )
    async with open_queue("a", retry=policy) as setup:
        setup.endpoints.busy = busy
        response = await setup.queue.call("x")
        assert setup.endpoints.outcomes("x") == ["response"], (
            "a retry would only go back to it: not sent, not even bound"
        )
        assert response.busy
        assert response.closed == 0


@pytest.mark.parametrize("pool", list(POOLS))
async def test_a_retry_with_nowhere_else_to_go_is_not_waited_for(
    autojump_clock: trio.testing.MockClock, pool: str
) -> None:
    policy = RetryPolicy(
        retry_on=lambda o: getattr(o, "busy", False),
        retry_after=lambda outcome: 30.0,
        distinct_endpoints=True,
    )
    async with open_queue("a", pool=pool, retry=policy) as setup:
        setup.endpoints.busy = busy
        response = await setup.queue.call("x")
        assert trio.current_time() == 0.0, "neither the backoff nor the 30 s asked"
        assert response.busy
        assert setup.endpoints.outcomes("x") == ["response"], "no retry bound at all"
        assert setup.metric("retries_total") == 0
        assert setup.queue.statistics().retry_budget == pytest.approx(10 * 10 + 0.2), (
            "the reserve and this call's deposit: nothing withdrawn"
        )


async def test_without_distinct_endpoints_a_retry_goes_back_where_it_must(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(retry_on=lambda o: getattr(o, "busy", False), backoff=AT_ONCE)
    async with open_queue("a", retry=policy) as setup:
        setup.endpoints.busy = busy
        response = await setup.queue.call("x")
        assert setup.endpoints.sent_to("x") == ["a", "a", "a"]
        assert [r.closed for r in setup.endpoints.responses] == [1, 1, 0]
        assert response is setup.endpoints.responses[-1]


async def test_a_kept_response_is_closed_when_the_caller_is_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(
        retry_on=lambda o: getattr(o, "busy", False), backoff=Backoff(initial=10, jitter=0)
    )
    async with open_queue("a", retry=policy) as setup:
        setup.endpoints.busy = busy
        with trio.move_on_after(5):
            await setup.queue.call("x")
        assert [r.closed for r in setup.endpoints.responses] == [1], "closed on the way out"


def test_distinct_endpoints_is_a_bool() -> None:
    with pytest.raises(TypeError, match="distinct_endpoints"):
        RetryPolicy(distinct_endpoints=1)  # type: ignore[arg-type]
