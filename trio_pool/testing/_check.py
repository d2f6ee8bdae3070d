"""`run_scenario` and `check_pool`: the Pool contract, checked over generated scenarios.

A scenario runs against the pool under test behind a real `open_pool_queue`, on Trio's
virtual clock, with `MockEndpoint`s made by the harness's own factory: endpoints of
every shape the protocol allows (with and without ``ready_nowait()``, with a ``ready()``
that checkpoints or returns at once), endpoints whose ``call()`` raises at once,
factories that raise, backends that fail and recover, discovery that misbehaves,
steps that race in one tick, and retries of failed calls (which reach a pool's
``call_avoiding``, if it has one). After every step, once every task is blocked, and again
after the block is left, it asserts:

- membership equals the `PoolModel` after every update (for pools with ``members()``);
- no request is bound to an endpoint without a readiness signal since its previous
  call (``ready()`` returned, or ``ready_nowait()`` did), after its removal was
  applied, or after it was closed;
- evicted endpoints are closed once their calls have ended, and every endpoint is
  closed when the queue is left;
- every bound call ends: awaited to the end, or closed unawaited, never leaked; the
  pool's own in-flight count (``statistics().in_flight``, if it has one) is back to 0;
- every call gets exactly one outcome: a response, the endpoint's own error,
  `FailFastError`, `UnavailableError` (with ``wait_for_ready=False``),
  `PoolClosedError`, or its own cancellation;
- the queue closes only when discovery failed (whatever an endpoint or the factory
  did), and no task started during the scenario (by the queue, the pool or the
  endpoints) outlives it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, AsyncIterator, Callable, Hashable, Iterator
from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings

from .._errors import FailFastError, PoolClosedError, UnavailableError
from .._pool import Pool
from .._queue import QueueMetrics, open_pool_queue
from .._resilience import Hedging, RetryBudget, RetryPolicy
from .._update import Update
from ._mock_endpoint import CallState, EndpointKind, MockEndpoint
from ._model import PoolModel
from ._scenario import (
    DiscoveryBehaviour,
    DiscoveryFails,
    EndpointFails,
    EndpointRecovers,
    EndpointRejects,
    EndpointSlowsDown,
    FactoryFails,
    Scenario,
    SendUpdate,
    SetPermits,
    Sleep,
    StartCall,
    Step,
    Together,
)
from ._strategies import scenarios

__all__ = [
    "EndpointFactory",
    "ScenarioReport",
    "ScriptedDiscoveryError",
    "ScriptedEndpointError",
    "ScriptedFactoryError",
    "ScriptedReadinessError",
    "check_pool",
    "run_scenario",
]

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
    """The error discovery raises at a `DiscoveryFails` step (or at ``__aiter__``, or
    when closed, as the scenario's `DiscoveryBehaviour` says)."""


class ScriptedFactoryError(OSError):
    """The error the harness's factory raises after a `FactoryFails` step."""


class ScriptedReadinessError(ConnectionRefusedError):
    """The error a failed backend's endpoints raise from their readiness."""


@attrs.define(eq=False)
class EndpointFactory:
    """The harness's ``new_endpoint``: makes `MockEndpoint`s and remembers each one.

    It plays the backends behind the addresses too: a backend that failed
    (`EndpointFails`) gives failed endpoints until it recovers, and a `FactoryFails`
    makes the next attempts for an address raise.
    """

    latency: float = 0.0
    """How long each call takes on the endpoints it makes."""
    permits: int | None = None
    """How many calls the endpoints it makes accept at first (``None``: any)."""
    made: list[MockEndpoint] = attrs.field(factory=list)

    on_call: Callable[[Any], None] | None = None
    """Given to each endpoint: called with each request as it is bound."""
    kind_of: Callable[[Hashable], EndpointKind] = lambda address: EndpointKind.NOWAIT
    """The shape of the endpoints made for an address."""
    failing: set[Hashable] = attrs.field(factory=set)
    """Addresses whose backend has failed: their new endpoints are failed too."""
    refusals: dict[Hashable, int] = attrs.field(factory=dict)
    """How many more attempts to make an endpoint for an address raise."""

    def __call__(self, address: Hashable, target: Any) -> MockEndpoint:
        refusals = self.refusals.get(address, 0)
        if refusals:
            self.refusals[address] = refusals - 1
            raise ScriptedFactoryError(f"scripted failure to make {address!r}")
        endpoint = MockEndpoint(address, target)
        handle = endpoint.handle
        handle.kind = self.kind_of(address)
        handle.latency = self.latency
        handle.permits = self.permits
        handle.on_call = self.on_call
        if address in self.failing:
            handle.failure = ScriptedReadinessError("scripted backend failure")
        self.made.append(endpoint)
        return endpoint

    def targeted(self, address: Hashable | None) -> list[MockEndpoint]:
        """The live endpoint at ``address``, or every live endpoint for ``None``."""
        if address is not None:
            live = self.live(address)
            return [] if live is None else [live]
        return [e for e in map(self.live, self.addresses()) if e is not None]

    def addresses(self) -> list[Hashable]:
        """Every address it made an endpoint for, in order."""
        return list(dict.fromkeys(e.address for e in self.made))

    def live(self, address: Hashable) -> MockEndpoint | None:
        """The endpoint made last for ``address`` and not yet evicted, if any."""
        for endpoint in reversed(self.made):
            if endpoint.address == address:
                return None if endpoint.handle.evicted else endpoint
        return None


class _AiterRaises:
    """A discovery object whose ``__aiter__`` raises."""

    def __aiter__(self) -> AsyncIterator[Update]:
        raise ScriptedDiscoveryError("scripted failure to start discovery")


@attrs.frozen
class ScenarioReport:
    """What happened in one scenario run."""

    outcomes: tuple[str, ...]
    """Each call's outcome, in the order the calls started."""
    endpoints_made: int
    """Endpoints the factory made (re-creations after failures included)."""
    dispatched: int
    """Calls bound to an endpoint (those it rejected at once included)."""
    membership_changes: int
    """Updates that changed the membership, by the model."""


async def run_scenario(
    new_pool: NewPool,
    scenario: Scenario,
    *,
    failfast_timeout: float = 3.0,
    capacity: int = 100,
    metrics: QueueMetrics | None = None,
    retry: RetryPolicy | None = None,
    hedging: Hedging | None = None,
    wait_for_ready: bool = True,
) -> ScenarioReport:
    """Run ``scenario`` against ``new_pool(new_endpoint)`` behind a queue; assert the contract.

    Call it inside ``trio.run`` with a ``MockClock`` (autojump) as the clock, or use
    `check_pool`. Raises ``AssertionError`` naming the broken rule.

    The queue retries a call whose endpoint failed it as ``scenario.retries`` says; a
    ``retry`` policy given here takes that place, with the harness's own ``retry_on``
    (an endpoint's scripted failure). ``hedging`` and ``wait_for_ready`` go to the
    queue as given.
    """
    __tracebackhide__ = True
    scopes: dict[int, trio.CancelScope] = {}
    cancel_on_dispatch: set[int] = set()

    def on_dispatch(request: Any) -> None:
        if request in cancel_on_dispatch:
            scopes[request].cancel()

    factory = EndpointFactory(
        latency=scenario.latency,
        permits=scenario.permits,
        on_call=on_dispatch,
        kind_of=scenario.kind_of,
    )
    pool = new_pool(factory)
    if retry is not None:
        retry = attrs.evolve(retry, retry_on=_scripted_call_failure)
    elif scenario.retries:
        retry = RetryPolicy(
            attempts=1 + scenario.retries,
            # Every failed call may be retried: what is checked is the pool, not the budget.
            budget=RetryBudget(min_per_second=1000.0),
            retry_on=_scripted_call_failure,
        )
    model = PoolModel()
    send, receive = trio.open_memory_channel[Update | DiscoveryFails](math.inf)
    outcomes: list[list[str]] = []
    discovery_failed = scenario.discovery is DiscoveryBehaviour.AITER_RAISES
    queue: Any = None
    changes = 0

    async def updates() -> AsyncIterator[Update]:
        try:
            async for item in receive:
                if isinstance(item, DiscoveryFails):
                    raise ScriptedDiscoveryError("scripted discovery failure")
                yield item
        finally:
            if scenario.discovery is DiscoveryBehaviour.CLOSE_RAISES:
                raise ScriptedDiscoveryError("scripted failure to close discovery")
            if scenario.discovery is DiscoveryBehaviour.CLOSE_HANGS:
                await trio.sleep_forever()

    discovery: AsyncIterable[Update] = (
        _AiterRaises() if scenario.discovery is DiscoveryBehaviour.AITER_RAISES else updates()
    )

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
            except UnavailableError:
                assert not wait_for_ready, "a queue that waits for ready never says unavailable"
                record.append("unavailable")
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

    def step_now(step: Step) -> None:
        """Run a step that takes no time (a `Together` runs several back to back)."""
        nonlocal discovery_failed
        if isinstance(step, Together):
            for inner in step.steps:
                step_now(inner)
        elif isinstance(step, SendUpdate):
            send.send_nowait(step.update)
            if not discovery_failed:  # discovery applies what it yields before it fails
                unmodelled.append(step.update)
        elif isinstance(step, StartCall):
            if step.cancel_on_dispatch:
                cancel_on_dispatch.add(len(outcomes))
            outcomes.append([])
            callers.start_soon(caller, len(outcomes) - 1, step.cancel_after)
        elif isinstance(step, DiscoveryFails):
            send.send_nowait(step)
            discovery_failed = True
        elif isinstance(step, FactoryFails):
            factory.refusals[step.address] = factory.refusals.get(step.address, 0) + step.times
        elif isinstance(step, EndpointFails | EndpointRecovers):
            backends = factory.addresses() if step.address is None else [step.address]
            if isinstance(step, EndpointFails):
                factory.failing.update(backends)
            else:
                factory.failing.difference_update(backends)
            for endpoint in factory.targeted(step.address):
                if isinstance(step, EndpointFails):
                    endpoint.handle.fail(ScriptedReadinessError("scripted backend failure"))
                else:
                    endpoint.handle.recover()
        elif isinstance(step, SetPermits | EndpointSlowsDown | EndpointRejects):
            for endpoint in factory.targeted(step.address):
                handle = endpoint.handle
                if isinstance(step, SetPermits):
                    handle.allow(step.permits)
                elif isinstance(step, EndpointRejects):
                    handle.reject = (
                        ScriptedEndpointError("scripted rejection") if step.rejecting else None
                    )
                else:
                    handle.latency = step.latency
                    handle.call_error = (
                        ScriptedEndpointError("scripted call failure") if step.failing else None
                    )
        else:
            raise TypeError(f"not a step that takes no time: {step!r}")

    unmodelled: list[Update] = []

    callers: trio.Nursery

    async def run_steps() -> None:
        nonlocal queue, changes, callers
        async with trio.open_nursery() as callers:
            async with open_pool_queue(
                pool,
                discovery,
                capacity=capacity,
                failfast_timeout=failfast_timeout,
                metrics=metrics,
                retry=retry,
                hedging=hedging,
                wait_for_ready=wait_for_ready,
            ) as opened:
                queue = opened
                for step in scenario.steps:
                    if isinstance(step, Sleep):
                        await trio.sleep(step.seconds)
                    else:
                        step_now(step)
                    await trio.testing.wait_all_tasks_blocked()
                    for update in unmodelled:
                        changes += model.apply(update)
                    unmodelled.clear()
                    mark_evicted()
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
            assert call.state in (CallState.DONE, CallState.CLOSED, CallState.REJECTED), (
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


def _scripted_call_failure(outcome: object) -> bool:
    """A scenario's ``retry_on``: an endpoint's scripted failure of a call."""
    return isinstance(outcome, ScriptedEndpointError)


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
