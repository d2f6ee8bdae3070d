"""`run_scenario` and `check_pool`: the Pool contract, checked over generated scenarios.

A scenario runs against the pool under test behind a real `open_pool_queue`, on Trio's
virtual clock, with `MockEndpoint`s made by the harness's own factory. After every step,
once every task is blocked, and again after the block is left, it asserts:

- membership equals the `PoolModel` after every update (for pools with ``members()``);
- no request is bound to an endpoint after its removal was applied, nor to one that is
  not ready, failed or closed;
- evicted endpoints are closed once their calls have ended, and every endpoint is
  closed when the queue is left;
- every bound call ends: awaited to the end, or closed unawaited, never leaked; the
  pool's own in-flight count (``statistics().in_flight``, if it has one) is back to 0;
- every call gets exactly one outcome: a response, the endpoint's own error,
  `FailFastError`, `PoolClosedError`, or its own cancellation;
- the queue closes only when discovery failed, and no task started during the scenario
  (by the queue, the pool or the endpoints) outlives it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings

from .._errors import FailFastError, PoolClosedError
from .._pool import Pool
from .._queue import QueueMetrics, open_pool_queue
from .._update import Update
from ._mock_endpoint import CallState, MockEndpoint
from ._model import PoolModel
from ._scenario import (
    DiscoveryFails,
    EndpointFails,
    EndpointRecovers,
    EndpointSlowsDown,
    Scenario,
    SendUpdate,
    SetPermits,
    Sleep,
    StartCall,
)
from ._strategies import scenarios

__all__ = ["EndpointFactory", "ScenarioReport", "check_pool", "run_scenario"]

NewPool = Callable[[Callable[[Hashable, Any], MockEndpoint]], Pool[Any, Any, Any, Any]]


class _TaskWatch(trio.abc.Instrument):
    """Remembers the tasks spawned while it is installed and not yet exited."""

    def __init__(self) -> None:
        self.live: dict[trio.lowlevel.Task, None] = {}

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.live[task] = None

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.live.pop(task, None)


class ScriptedEndpointError(ConnectionError):
    """The error a `MockEndpoint` raises from a call when the scenario says it fails."""


class ScriptedDiscoveryError(OSError):
    """The error discovery raises at a `DiscoveryFails` step."""


@attrs.define(eq=False)
class EndpointFactory:
    """The harness's ``new_endpoint``: makes `MockEndpoint`s and remembers each one."""

    latency: float = 0.0
    """How long each call takes on the endpoints it makes."""
    permits: int | None = None
    """How many calls the endpoints it makes accept at first (``None``: any)."""
    made: list[MockEndpoint] = attrs.field(factory=list)

    on_call: Callable[[Any], None] | None = None
    """Given to each endpoint: called with each request as it is bound."""

    def __call__(self, address: Hashable, target: Any) -> MockEndpoint:
        endpoint = MockEndpoint(address, target)
        endpoint.handle.latency = self.latency
        endpoint.handle.permits = self.permits
        endpoint.handle.on_call = self.on_call
        self.made.append(endpoint)
        return endpoint

    def targeted(self, address: Hashable | None) -> list[MockEndpoint]:
        """The live endpoint at ``address``, or every live endpoint for ``None``."""
        if address is not None:
            live = self.live(address)
            return [] if live is None else [live]
        addresses = dict.fromkeys(e.address for e in self.made)
        return [e for e in map(self.live, addresses) if e is not None]

    def live(self, address: Hashable) -> MockEndpoint | None:
        """The endpoint made last for ``address`` and not yet evicted, if any."""
        for endpoint in reversed(self.made):
            if endpoint.address == address:
                return None if endpoint.handle.evicted else endpoint
        return None


@attrs.frozen
class ScenarioReport:
    """What happened in one scenario run."""

    outcomes: tuple[str, ...]
    """Each call's outcome, in the order the calls started."""
    endpoints_made: int
    """Endpoints the factory made (re-creations after failures included)."""
    dispatched: int
    """Calls bound to an endpoint."""
    membership_changes: int
    """Updates that changed the membership, by the model."""


async def run_scenario(
    new_pool: NewPool,
    scenario: Scenario,
    *,
    failfast_timeout: float = 3.0,
    capacity: int = 100,
    metrics: QueueMetrics | None = None,
) -> ScenarioReport:
    """Run ``scenario`` against ``new_pool(new_endpoint)`` behind a queue; assert the contract.

    Call it inside ``trio.run`` with a ``MockClock`` (autojump) as the clock, or use
    `check_pool`. Raises ``AssertionError`` naming the broken rule.
    """
    __tracebackhide__ = True
    scopes: dict[int, trio.CancelScope] = {}
    cancel_on_dispatch: set[int] = set()

    def on_dispatch(request: Any) -> None:
        if request in cancel_on_dispatch:
            scopes[request].cancel()

    factory = EndpointFactory(
        latency=scenario.latency, permits=scenario.permits, on_call=on_dispatch
    )
    pool = new_pool(factory)
    model = PoolModel()
    send, receive = trio.open_memory_channel[Update | DiscoveryFails](math.inf)
    outcomes: list[list[str]] = []
    discovery_failed = False
    queue: Any = None
    changes = 0

    async def discovery() -> AsyncIterator[Update]:
        async for item in receive:
            if isinstance(item, DiscoveryFails):
                raise ScriptedDiscoveryError("scripted discovery failure")
            yield item

    async def caller(index: int, cancel_after: float | None) -> None:
        record = outcomes[index]
        with trio.move_on_after(math.inf if cancel_after is None else cancel_after) as scope:
            scopes[index] = scope
            try:
                await queue.call(index)
            except ScriptedEndpointError:
                record.append("endpoint error")
            except FailFastError:
                record.append("failfast")
            except PoolClosedError:
                record.append("closed")
            else:
                record.append("response")
        if scope.cancelled_caught:
            record.append("cancelled")

    def check_quiescent() -> None:
        if queue.closed_error is not None:
            return
        members = getattr(pool, "members", None)
        if members is not None:
            assert members() == model.members, (
                f"membership {members()!r} differs from the model {model.members!r}"
            )
        for endpoint in factory.made:
            handle = endpoint.handle
            stale = handle.evicted or factory.live(endpoint.address) is not endpoint
            if stale and not handle.in_flight and not handle.failure:
                assert handle.closed, (
                    f"endpoint {endpoint.address!r} (target {endpoint.target!r}) was evicted "
                    "and has no call in flight, but was not closed"
                )

    def mark_evicted() -> None:
        for endpoint in factory.made:
            if not model.holds(endpoint.address, endpoint.target):
                endpoint.handle.evicted = True

    async def run_steps() -> None:
        nonlocal queue, discovery_failed, changes
        async with trio.open_nursery() as callers:
            async with open_pool_queue(
                pool,
                discovery(),
                capacity=capacity,
                failfast_timeout=failfast_timeout,
                metrics=metrics,
            ) as opened:
                queue = opened
                for step in scenario.steps:
                    if isinstance(step, SendUpdate):
                        send.send_nowait(step.update)
                        await trio.testing.wait_all_tasks_blocked()
                        if not discovery_failed:
                            changes += model.apply(step.update)
                            mark_evicted()
                    elif isinstance(step, StartCall):
                        if step.cancel_on_dispatch:
                            cancel_on_dispatch.add(len(outcomes))
                        outcomes.append([])
                        callers.start_soon(caller, len(outcomes) - 1, step.cancel_after)
                    elif isinstance(step, DiscoveryFails):
                        send.send_nowait(step)
                        discovery_failed = True
                    elif isinstance(step, Sleep):
                        await trio.sleep(step.seconds)
                    else:
                        for endpoint in factory.targeted(step.address):
                            handle = endpoint.handle
                            if isinstance(step, SetPermits):
                                handle.allow(step.permits)
                            elif isinstance(step, EndpointFails):
                                handle.fail(ConnectionRefusedError("scripted failure"))
                            elif isinstance(step, EndpointRecovers):
                                handle.recover()
                            elif isinstance(step, EndpointSlowsDown):
                                handle.latency = step.latency
                                handle.call_error = (
                                    ScriptedEndpointError("scripted call failure")
                                    if step.failing
                                    else None
                                )
                    await trio.testing.wait_all_tasks_blocked()
                    check_quiescent()
            closed = queue.closed_error
            if discovery_failed:
                assert closed is not None
            else:
                assert closed is not None, "leaving the block closes the queue"
                assert closed.__cause__ is None, (
                    f"the queue closed by itself: {closed!r} caused by {closed.__cause__!r}"
                )

    tasks = _TaskWatch()
    trio.lowlevel.add_instrument(tasks)
    try:
        await run_steps()
    except BaseExceptionGroup as group:
        # A failure inside the callers' nursery arrives wrapped: surface the broken rule
        # (or the pool's one error) as itself.
        leaves = list(_leaves(group))
        assertions = [e for e in leaves if isinstance(e, AssertionError)]
        if assertions:
            raise assertions[0] from None
        if len(leaves) == 1:
            raise leaves[0] from None
        raise
    finally:
        trio.lowlevel.remove_instrument(tasks)
    assert not tasks.live, f"tasks outlived the queue: {[t.name for t in tasks.live]}"

    violations = [v for e in factory.made for v in e.handle.violations]
    assert not violations, "contract broken: " + "; ".join(violations)
    for endpoint in factory.made:
        handle = endpoint.handle
        assert handle.closed, f"endpoint {endpoint.address!r} was never closed"
        for call in handle.calls:
            assert call.state in (CallState.DONE, CallState.CLOSED), (
                f"request {call.request!r} bound to {endpoint.address!r} was neither awaited "
                "nor closed: its load accounting leaked"
            )
    statistics = getattr(pool, "statistics", None)
    if statistics is not None:
        in_flight = getattr(statistics(), "in_flight", 0)
        assert in_flight == 0, f"pool still counts {in_flight} calls in flight"
    for index, record in enumerate(outcomes):
        assert len(record) == 1, f"call {index} had {len(record)} outcomes: {record}"
    dispatched = sum(len(e.handle.calls) for e in factory.made)
    return ScenarioReport(
        outcomes=tuple(r[0] for r in outcomes),
        endpoints_made=len(factory.made),
        dispatched=dispatched,
        membership_changes=changes,
    )


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            yield from _leaves(error)
        else:
            yield error


def check_pool(
    new_pool: NewPool,
    *,
    max_examples: int | None = None,
    failfast_timeout: float = 3.0,
) -> None:
    """Check that a `Pool` implementation keeps the contract, over generated scenarios.

    ``new_pool(new_endpoint)`` builds the pool under test around the harness's own
    endpoint factory::

        def test_my_pool_conforms():
            check_pool(lambda new_endpoint: MyPool(new_endpoint))

    A plain function: call it from a synchronous test. It runs Hypothesis with the active
    settings profile (``max_examples`` overrides its example count) and raises
    ``AssertionError`` whose message holds each broken rule with its shrunk scenario:
    one, or every distinct failure Hypothesis found, and an error of any other kind
    raised by the pool counts as a broken rule too. See the module documentation for
    the rules.
    """
    __tracebackhide__ = True
    overrides: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    }
    if max_examples is not None:
        overrides["max_examples"] = max_examples

    @settings(**overrides)
    @given(scenarios())
    def conformance(scenario: Scenario) -> None:
        __tracebackhide__ = True
        trio.run(
            lambda: run_scenario(new_pool, scenario, failfast_timeout=failfast_timeout),
            clock=trio.testing.MockClock(autojump_threshold=0),
        )

    try:
        conformance()
    except Exception as exc:
        failures = _failures(exc)
        if len(failures) == 1:
            raise AssertionError(
                f"the pool broke the Pool contract: {_describe(failures[0])}"
            ) from failures[0]
        listed = "\n\n".join(f"{i}. {_describe(f)}" for i, f in enumerate(failures, 1))
        raise AssertionError(
            f"the pool broke the Pool contract in {len(failures)} ways:\n\n{listed}"
        ) from None


def _failures(error: Exception) -> list[Exception]:
    """The distinct failures in what Hypothesis raised: one error, or a group of them."""
    if isinstance(error, ExceptionGroup) and any(
        getattr(e, "__notes__", None) for e in error.exceptions
    ):
        return [leaf for e in error.exceptions for leaf in _failures(e)]
    return [error]


def _describe(failure: Exception) -> str:
    """The broken rule (or the error) and the notes Hypothesis added: the scenario."""
    rule = str(failure) if isinstance(failure, AssertionError) else repr(failure)
    notes = "\n".join(getattr(failure, "__notes__", []))
    return f"{rule}\n{notes}" if notes else rule
