"""Properties of the queue over random interleavings of updates, calls and cancellations."""

from __future__ import annotations

import math
from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from trio_pool import (
    Add,
    DoesNotExist,
    FailFastError,
    PoolClosedError,
    QueueMetricFamilies,
    Remove,
    Reset,
    Update,
    open_pool_queue,
)
from trio_pool.testing import MockPool, PoolModel

addresses = st.sampled_from("abcdef")
updates: st.SearchStrategy[Update] = st.one_of(
    st.dictionaries(addresses, st.integers(0, 3)).map(lambda d: Reset(d.items())),
    st.dictionaries(addresses, st.integers(0, 3), min_size=1).map(lambda d: Add(d.items())),
    st.sets(addresses, min_size=1).map(Remove),
    st.just(DoesNotExist()),
)


@attrs.frozen
class Call:
    cancel_after: float | None
    latency: float
    fails: bool


ops = st.lists(
    st.one_of(
        # Times come from a few values, so deadlines often coincide with dispatches and
        # with the failfast timeout: the races worth checking.
        st.builds(
            Call,
            st.sampled_from([None, 0.0, 0.5, 1.0, 3.0, 3.5]),
            st.sampled_from([0.0, 0.5, 1.0]),
            st.booleans(),
        ),
        updates,
        st.booleans(),  # the pool becomes ready / not ready
        st.sampled_from([0.0, 0.5, 1.0, 3.0]).map(lambda dt: ("sleep", dt)),
        st.just("drive fails"),
    ),
    max_size=40,
)


class TaskCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.live: set[trio.lowlevel.Task] = set()

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.live.add(task)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.live.discard(task)


async def run_scenario(
    script: list[Any], fast_path: bool, capacity: int, counter: TaskCounter
) -> None:
    async def respond(request: int) -> Any:
        call = calls[request]
        started.add(request)
        await trio.sleep(call.latency)
        if call.fails:
            raise ConnectionError(request)
        return request

    pool = MockPool(respond=respond, fast_path=fast_path)
    registry = CollectorRegistry()
    metrics = QueueMetricFamilies.register(registry).labels()
    calls: list[Call] = []
    started: set[int] = set()
    cancelled_at: dict[int, float] = {}
    outcomes: dict[int, list[str]] = {}
    model = PoolModel()
    send, discovery = trio.open_memory_channel[Update](math.inf)

    async def caller(i: int) -> None:
        record = outcomes.setdefault(i, [])
        with trio.move_on_after(calls[i].cancel_after or math.inf) as scope:
            try:
                assert await queue.call(i) == i
                record.append("response")
            except ConnectionError:
                record.append("endpoint error")
            except FailFastError:
                record.append("failfast")
            except PoolClosedError:
                record.append("closed")
        if scope.cancelled_caught:
            record.append("cancelled")
            cancelled_at[i] = scope.deadline

    baseline = set(counter.live)
    async with (
        trio.open_nursery() as callers,
        open_pool_queue(
            pool, discovery, capacity=capacity, failfast_timeout=3.0, metrics=metrics
        ) as queue,
    ):
        for op in script:
            if isinstance(op, Call):
                calls.append(op)
                callers.start_soon(caller, len(calls) - 1)
            elif isinstance(op, bool):
                pool.handle.set_ready(op)
            elif op == "drive fails":
                pool.handle.fail_drive(RuntimeError("drive failed"))
            elif isinstance(op, tuple):
                await trio.sleep(op[1])
            else:
                send.send_nowait(op)
                await trio.testing.wait_all_tasks_blocked()
                if queue.closed_error is None:
                    model.apply(op)
                    assert pool.handle.endpoints == model.members, (
                        "updates apply at once, idle or not"
                    )
            await trio.testing.wait_all_tasks_blocked()
    assert counter.live == baseline, "no task outlives the block"

    assert sorted(outcomes) == list(range(len(calls)))
    for i, record in outcomes.items():
        assert len(record) == 1, f"call {i} had outcomes {record}"
        dispatched = pool.handle.requests.count(i)
        assert dispatched <= 1, f"call {i} was dispatched {dispatched} times"
        if record[0] in ("response", "endpoint error"):
            assert dispatched == 1
        if record[0] in ("failfast", "closed"):
            assert dispatched == 0, f"call {i} failed with {record[0]} after dispatch"
    for i, at in zip(pool.handle.requests, pool.handle.dispatch_times, strict=True):
        if i in cancelled_at:
            assert at <= cancelled_at[i], f"call {i} was dispatched after its caller left"
        else:
            assert i in started, f"call {i} was dispatched but its bound call never ran"
    assert pool.handle.in_flight == 0, "load accounting returns to zero"
    assert queue.statistics().pending == 0
    assert registry.get_sample_value("trio_pool_queue_length") == 0
    assert registry.get_sample_value("trio_pool_queue_latency_seconds_count") == len(
        pool.handle.requests
    )
    assert pool.handle.closed


@given(script=ops, fast_path=st.booleans(), capacity=st.sampled_from([0, 1, 3, 100]))
def test_every_call_gets_exactly_one_outcome(
    script: list[Any], fast_path: bool, capacity: int
) -> None:
    counter = TaskCounter()
    trio.run(
        run_scenario,
        script,
        fast_path,
        capacity,
        counter,
        clock=trio.testing.MockClock(autojump_threshold=0),
        instruments=[counter],
    )
