"""Properties of calls with retries and hedges, over random interleavings in virtual time.

Endpoints answer, fail or say they are busy after random latencies, some of them even
when cancelled; callers are cancelled at random points (often in the very tick
something else happens, since every time is drawn from a few values); discovery
removes and restores endpoints so that failfast strikes; budgets run dry; the queue's
block may be left under the calls.
Whatever happens:

- every call has exactly one outcome: a response, an error, or its cancellation;
- a response is the caller's own, delivered once; every other response is closed, once;
- an error is one an attempt of that request raised, unwrapped;
- no attempt outlives its caller: when a call ends, none of its calls is bound or
  running, and none was bound after the caller was cancelled;
- a call sends at most ``attempts * max_attempts`` copies, and retries stay within
  the budget; nothing leaks: no task, no call in flight, no request pending.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable
from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import event, given
from hypothesis import strategies as st

from tests.support.resilience import POOLS, Response, open_queue
from trio_pool import (
    Add,
    Backoff,
    DispatchTimeoutError,
    FailFastError,
    Hedging,
    PoolClosedError,
    Remove,
    RetryBudget,
    RetryPolicy,
    Update,
)
from trio_pool.testing import CallState, EndpointKind

ADDRESSES = ("a", "b", "c", "d")
TIMES = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3]


@attrs.frozen
class Behaviour:
    latency: float
    result: str  # "ok", "error" or "busy"
    stubborn: bool = False
    """Answers even when cancelled."""


@attrs.frozen
class Call:
    start_at: float
    cancel_after: float | None
    behaviour: dict[str, Behaviour]
    """How each endpoint answers this request."""
    dispatch_timeout: float | None


behaviours = st.builds(
    Behaviour,
    st.sampled_from([0.0, 0.05, 0.1, 0.2]),
    st.sampled_from(["ok", "error", "busy"]),
    st.booleans(),
)
calls = st.builds(
    Call,
    st.sampled_from(TIMES),
    st.sampled_from([None, *TIMES]),
    st.fixed_dictionaries(dict.fromkeys(ADDRESSES, behaviours)),
    st.sampled_from([None, None, 0.05, 0.2]),
)
budgets = st.builds(
    RetryBudget,
    ttl=st.just(1.0),
    min_per_second=st.sampled_from([0.0, 1.0, 5.0]),
    percent=st.sampled_from([0.0, 0.5, 10.0]),
)
retries = st.one_of(
    st.none(),
    st.builds(
        lambda attempts, budget, backoff, busy, seed: RetryPolicy(
            attempts=attempts,
            budget=budget,
            backoff=backoff,
            retry_on=(
                (lambda o: isinstance(o, Exception) or o.busy)
                if busy
                else (lambda o: isinstance(o, Exception))
            ),
            rng=random.Random(seed),
        ),
        st.integers(1, 4),
        budgets,
        st.sampled_from([Backoff(initial=0, maximum=0), Backoff(0.05, 0.1, jitter=0.5)]),
        st.booleans(),
        st.integers(0, 3),
    ),
)
hedgings = st.one_of(
    st.none(),
    st.builds(
        Hedging,
        delay=st.sampled_from([0.0, 0.05, 0.1]),
        max_attempts=st.integers(2, 3),
        budget=budgets,
    ),
)
updates = st.lists(
    st.tuples(st.sampled_from(TIMES), st.sampled_from(ADDRESSES), st.booleans()), max_size=4
)


@attrs.define
class Scenario:
    kind: EndpointKind
    pool: str
    endpoints: int
    retry: RetryPolicy | None
    hedging: Hedging | None
    calls: list[Call]
    updates: list[tuple[float, str, bool]]
    leave_at: float | None


scenarios = st.builds(
    Scenario,
    st.sampled_from(list(EndpointKind)),
    st.sampled_from(sorted(POOLS)),
    st.integers(1, 4),
    retries,
    hedgings,
    st.lists(calls, min_size=1, max_size=6),
    updates,
    st.sampled_from([None, None, 0.1, 0.3]),
)


class TaskCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.live: set[trio.lowlevel.Task] = set()

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.live.add(task)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.live.discard(task)


async def run(scenario: Scenario, counter: TaskCounter) -> None:
    addresses = ADDRESSES[: scenario.endpoints]
    outcomes: dict[int, list[tuple[str, Any]]] = {}
    errors: dict[int, list[Exception]] = {}
    cancelled_at: dict[int, float] = {}

    def plan(request: int, copy: int, address: Hashable) -> tuple[float, Exception | None]:
        behaviour = scenario.calls[request].behaviour[str(address)]
        if behaviour.result != "error":
            return behaviour.latency, None
        error = ConnectionError(f"{address} failed request {request}, copy {copy}")
        errors.setdefault(request, []).append(error)
        return behaviour.latency, error

    def busy(address: Hashable, request: int) -> bool:
        return scenario.calls[request].behaviour[str(address)].result == "busy"

    async def caller(i: int, call: Call) -> None:
        await trio.sleep(call.start_at)
        record = outcomes.setdefault(i, [])
        with trio.move_on_after(math.inf if call.cancel_after is None else call.cancel_after):
            try:
                response = await queue.call(i, dispatch_timeout=call.dispatch_timeout)
                record.append(("response", response))
            except (FailFastError, PoolClosedError, DispatchTimeoutError) as exc:
                record.append(("queue", exc))
            except ConnectionError as exc:
                record.append(("error", exc))
            except BaseException:
                cancelled_at[i] = trio.current_time()
                record.append(("cancelled", None))
                raise
        leaked = [c for c in setup.endpoints.leaked() if c.request == i]
        assert not leaked, f"call {i} ended with attempts still on: {leaked}"

    baseline = set(counter.live)
    start = trio.current_time()
    async with (
        trio.open_nursery() as callers,
        open_queue(
            addresses,
            kind=scenario.kind,
            pool=scenario.pool,
            retry=scenario.retry,
            hedging=scenario.hedging,
            failfast_timeout=0.15,
        ) as setup,
    ):
        setup.endpoints.plan = plan
        setup.endpoints.busy = busy
        setup.endpoints.stubborn = lambda address, request: (
            scenario.calls[request].behaviour[str(address)].stubborn
        )
        queue = setup.queue
        for i, call in enumerate(scenario.calls):
            callers.start_soon(caller, i, call)
        for at, address, present in sorted(scenario.updates):
            if address not in addresses:
                continue
            await trio.sleep_until(start + at)
            update: Update = Add([(address, None)]) if present else Remove([address])
            setup.updates.send_nowait(update)
        if scenario.leave_at is not None:
            await trio.sleep_until(start + scenario.leave_at)
        else:
            await trio.sleep(5.0)  # long enough for every call to end
    await trio.testing.wait_all_tasks_blocked()
    assert counter.live == baseline, "no task outlives the calls"
    duration = trio.current_time() - start

    endpoints = setup.endpoints
    delivered: list[Response] = []
    for i in range(len(scenario.calls)):
        record = outcomes[i]
        assert len(record) == 1, f"call {i} had outcomes {record}"
        what, value = record[0]
        if what == "response":
            assert isinstance(value, Response)
            assert value.request == i
            delivered.append(value)
        elif what == "error":
            assert any(value is e for e in errors.get(i, [])), (
                f"call {i} raised {value!r}, which no attempt of it raised"
            )
        if i in cancelled_at:
            for bound in endpoints.every_call():
                if bound.request == i:
                    assert bound.bound_at <= cancelled_at[i], (
                        f"call {i} was sent after its caller was cancelled"
                    )
        copies = len(endpoints.sent_to(i))
        attempts = scenario.retry.attempts if scenario.retry is not None else 1
        max_copies = scenario.hedging.max_attempts if scenario.hedging is not None else 1
        assert copies <= attempts * max_copies, f"call {i} sent {copies} copies"

    assert len({id(r) for r in delivered}) == len(delivered), "a response delivered twice"
    for response in endpoints.responses:
        if any(response is r for r in delivered):
            assert response.closed == 0, f"{response} delivered and closed"
        else:
            assert response.closed == 1, f"{response} neither delivered nor closed once"
    assert endpoints.leaked() == []
    assert all(
        call.state in (CallState.DONE, CallState.CLOSED, CallState.REJECTED)
        for call in endpoints.every_call()
    )
    assert not [v for handle in endpoints.every_handle for v in handle.violations]
    assert queue.statistics().pending == 0

    # What the example exercised, for --hypothesis-show-statistics.
    for what in sorted({what for record in outcomes.values() for what, _ in record}):
        event(f"a call ended with: {what}")
    if setup.metric("retries_total"):
        event("retried")
    if setup.metric("hedges_total"):
        event("hedged")
    if setup.metric("retries_refused_total") or setup.metric("hedges_refused_total"):
        event("a budget refused")
    if any(response.closed for response in endpoints.responses):
        event("a response was closed")

    retry = scenario.retry
    if retry is not None:
        budget = retry.budget
        ceiling = budget.percent * len(scenario.calls) + budget.min_per_second * (
            duration + budget.ttl
        )
        assert setup.metric("retries_total") <= ceiling + 1e-9
    else:
        assert setup.metric("retries_total") == 0
    if scenario.hedging is None:
        assert setup.metric("hedges_total") == 0


@given(scenario=scenarios)
def test_every_call_has_one_outcome_and_no_attempt_outlives_it(scenario: Scenario) -> None:
    counter = TaskCounter()
    trio.run(
        run,
        scenario,
        counter,
        clock=trio.testing.MockClock(autojump_threshold=0),
        instruments=[counter],
    )
