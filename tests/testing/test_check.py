"""The public test harness: mocks, model, strategies, and check_pool itself."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_pool import (
    Add,
    DoesNotExist,
    LeastLoadedPool,
    P2CPool,
    RandomPool,
    Remove,
    Reset,
    RoundRobinPool,
)
from trio_pool.testing import (
    CallState,
    EndpointHandle,
    EndpointKind,
    EndpointRejects,
    MockEndpoint,
    PoolModel,
    Scenario,
    SendUpdate,
    SetPermits,
    Sleep,
    StartCall,
    check_pool,
    run_scenario,
    scenarios,
    update_streams,
    updates,
)


@pytest.mark.parametrize("pool_class", [P2CPool, LeastLoadedPool, RoundRobinPool, RandomPool])
def test_shipped_pools_conform(pool_class: Callable[..., Any]) -> None:
    check_pool(pool_class)


class ForgetfulPool(RoundRobinPool[Any, Any, Any, Any]):
    """Breaks the contract: a Reset never evicts absent endpoints."""

    def reset_pool(self, endpoints: Any) -> None:
        for address, target in endpoints:
            self.add_endpoint(address, target)


def test_check_pool_reports_a_broken_pool_with_its_scenario() -> None:
    with pytest.raises(AssertionError, match="broke the Pool contract") as info:
        check_pool(ForgetfulPool, max_examples=200)
    message = str(info.value)
    assert "differs from the model" in message or "after its removal" in message
    assert "Scenario(" in message, "the shrunk scenario is in the message"


class LeakyPool(P2CPool[Any, Any, Any, Any]):
    """Breaks the contract: closing an unawaited call does not reach the endpoint."""

    def call(self, request: Any) -> Any:
        bound = super().call(request)

        class Unclosable:
            def __await__(self) -> Any:
                return bound.__await__()

        return Unclosable()


async def test_run_scenario_catches_leaked_calls(autojump_clock: trio.testing.MockClock) -> None:
    # The race is rare in generated scenarios; this one hits it every time: the caller
    # waits for a busy pool, and is cancelled in the very step its request is bound.
    address = ("10.0.0.1", 8080)
    scenario = Scenario(
        [SendUpdate(Reset([(address, None)])), StartCall(None, True), SetPermits(address, 1)],
        permits=0,
    )
    await run_scenario(P2CPool, scenario)
    with pytest.raises(AssertionError, match="neither awaited nor closed"):
        await run_scenario(LeakyPool, scenario)


@given(update_streams())
def test_the_model_follows_any_update_stream(stream: list[Any]) -> None:
    model = PoolModel()
    expected: dict[Hashable, Any] = {}
    assert isinstance(stream[0], Reset)
    for update in stream:
        changed = model.apply(update)
        before = dict(expected)
        if isinstance(update, Reset):
            expected = dict(update.endpoints)
        elif isinstance(update, Add):
            expected.update(update.endpoints)
        elif isinstance(update, Remove):
            for address in update.addresses:
                expected.pop(address, None)
        else:
            assert isinstance(update, DoesNotExist)
            expected = {}
        assert model.members == expected
        assert bool(changed) == (before != expected)


@given(updates())
def test_generated_updates_are_valid(update: Any) -> None:
    assert isinstance(update, Reset | Add | Remove | DoesNotExist)


async def test_mock_endpoint_permits_and_failures(
    autojump_clock: trio.testing.MockClock,
) -> None:
    endpoint = MockEndpoint(("10.0.0.1", 80), None)
    handle = endpoint.handle
    handle.allow(1)
    endpoint.ready_nowait()
    call = endpoint.call("a")
    with pytest.raises(trio.WouldBlock):
        endpoint.ready_nowait()
    with pytest.raises(AssertionError, match="without a readiness signal"):
        endpoint.call("b")
    assert await call == (("10.0.0.1", 80), "a")
    assert call.state is CallState.DONE

    async def allow_later() -> None:
        await trio.sleep(2)
        handle.allow(None)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(allow_later)
        await endpoint.ready()
        assert trio.current_time() == pytest.approx(2.0)

    handle.fail(ConnectionRefusedError("down"))
    with pytest.raises(ConnectionRefusedError):
        endpoint.ready_nowait()
    with pytest.raises(ConnectionRefusedError):
        await endpoint.ready()
    handle.recover()
    handle.latency = 1.5
    handle.call_error = TimeoutError("slow and failing")
    start = trio.current_time()
    endpoint.ready_nowait()
    with pytest.raises(TimeoutError):
        await endpoint.call("c")
    assert trio.current_time() - start == pytest.approx(1.5)
    endpoint.ready_nowait()
    dropped = endpoint.call("d")
    dropped.close()
    assert dropped.state is CallState.CLOSED
    assert handle.in_flight == 0
    await endpoint.aclose()
    with pytest.raises(AssertionError, match="closed twice"):
        await endpoint.aclose()
    assert len(handle.violations) == 2


class TwoBugsPool(RoundRobinPool[Any, Any, Any, Any]):
    """Breaks the contract in two ways, by the parity of the endpoints it made: with an
    even number, members() hides one (of two or more); with an odd one, aclose() raises.
    Shrinking either failure's scenario meets the other, so Hypothesis reports both."""

    def __init__(self, new_endpoint: Callable[[Hashable, Any], Any]) -> None:
        self.made = 0

        def counted(address: Hashable, target: Any) -> Any:
            self.made += 1
            return new_endpoint(address, target)

        super().__init__(counted)

    def members(self) -> dict[Any, Any]:
        members = super().members()
        if len(members) >= 2 and self.made % 2 == 0:
            members.pop(next(iter(members)))
        return members

    async def aclose(self) -> None:
        await super().aclose()
        if self.made % 2:
            raise RuntimeError("aclose is broken")


@pytest.fixture
def derandomized() -> Iterator[None]:
    """Hypothesis' search, made the same on every run, for tests that need it to find
    exactly what it found once; the profile in force before is restored after."""
    current = settings()
    settings.register_profile("derandomized", parent=current, derandomize=True)
    settings.load_profile("derandomized")
    yield
    settings.register_profile("restored", parent=current)
    settings.load_profile("restored")


@pytest.mark.usefixtures("derandomized")
def test_check_pool_raises_one_assertion_error_listing_every_failure() -> None:
    # Hypothesis finds both bugs and reports them as a group (a derandomized search
    # finds both every time; a random one, about half the time): check_pool must still
    # raise a plain AssertionError, with each failure and its scenario in the message.
    with pytest.raises(AssertionError) as info:
        check_pool(TwoBugsPool, max_examples=300)
    assert not isinstance(info.value, BaseExceptionGroup)
    message = str(info.value)
    assert "broke the Pool contract" in message
    assert "differs from the model" in message
    assert "aclose is broken" in message
    assert message.count("Scenario(") >= 2, "each failure comes with its shrunk scenario"


class RaisingPool(RoundRobinPool[Any, Any, Any, Any]):
    """Breaks the contract with an error that is not an assertion."""

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
        raise RuntimeError("aclose is broken")


def test_check_pool_reports_any_error_of_the_pool_as_an_assertion_error() -> None:
    with pytest.raises(AssertionError, match="aclose is broken") as info:
        check_pool(RaisingPool, max_examples=50)
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_mock_endpoints_take_every_shape_of_the_protocol() -> None:
    nowait = MockEndpoint("a", None)
    plain = MockEndpoint("b", None, EndpointHandle(kind=EndpointKind.PLAIN))
    instant = MockEndpoint("c", None, EndpointHandle(kind=EndpointKind.INSTANT))
    assert hasattr(nowait, "ready_nowait")
    assert not hasattr(plain, "ready_nowait")
    assert not hasattr(instant, "ready_nowait")
    # An instant endpoint's ready() returns without a checkpoint when it is ready: it
    # completes even in a cancelled scope.
    with trio.CancelScope() as scope:
        scope.cancel()
        await instant.ready()
        assert instant.handle.armed
        await plain.ready()
    assert not plain.handle.armed, "a plain endpoint's ready() checkpoints first"
    # Readiness is per call: each call needs a signal of its own.
    instant.call("x").close()
    with pytest.raises(AssertionError, match="without a readiness signal"):
        instant.call("y")
    instant.handle.reject = ValueError("rejected")
    await instant.ready()
    with pytest.raises(ValueError, match="rejected"):
        instant.call("z")


@pytest.mark.parametrize("kind", list(EndpointKind), ids=lambda k: k.value)
def test_shipped_pools_conform_over_each_endpoint_kind(kind: EndpointKind) -> None:
    # check_pool mixes kinds in one pool; here each kind alone, for a clear report.
    @settings(max_examples=100, deadline=None)
    @given(scenarios(kinds=st.just(kind)))
    def conformance(scenario: Scenario) -> None:
        trio.run(
            lambda: run_scenario(P2CPool, scenario),
            clock=trio.testing.MockClock(autojump_threshold=0),
        )

    conformance()


@pytest.mark.parametrize("pool_class", [P2CPool, LeastLoadedPool, RoundRobinPool, RandomPool])
@pytest.mark.parametrize("retries", [0, 1])
async def test_a_scenario_with_retries_sends_a_failed_call_to_another_endpoint(
    pool_class: Callable[..., Any], retries: int, autojump_clock: trio.testing.MockClock
) -> None:
    # One of two endpoints rejects every call: with a retry, the pool's call_avoiding
    # sends it to the other, so every call is answered; without, some are not.
    scenario = Scenario(
        steps=[
            SendUpdate(Reset([("a", None), ("b", None)])),
            EndpointRejects("a", True),
            *(StartCall() for _ in range(40)),
            Sleep(1.0),  # time for the retries' backoff
        ],
        retries=retries,
    )
    report = await run_scenario(pool_class, scenario)
    answered = report.outcomes.count("response")
    if retries:
        assert answered == 40, report.outcomes
        assert report.dispatched > 40, "the failed calls were sent again"
    else:
        assert answered < 40, "the rejecting endpoint took some calls"
