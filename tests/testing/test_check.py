"""The public test harness: mocks, model, strategies, and check_pool itself."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given

from trio_pool import Add, DoesNotExist, P2CPool, RandomPool, Remove, Reset, RoundRobinPool
from trio_pool.testing import (
    CallState,
    MockEndpoint,
    PoolModel,
    Scenario,
    SendUpdate,
    SetPermits,
    StartCall,
    check_pool,
    run_scenario,
    update_streams,
    updates,
)


@pytest.mark.parametrize("pool_class", [P2CPool, RoundRobinPool, RandomPool])
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
    with pytest.raises(AssertionError, match="which is not ready"):
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
    with pytest.raises(TimeoutError):
        await endpoint.call("c")
    assert trio.current_time() - start == pytest.approx(1.5)
    dropped = endpoint.call("d")
    dropped.close()
    assert dropped.state is CallState.CLOSED
    assert handle.in_flight == 0
    await endpoint.aclose()
    with pytest.raises(AssertionError, match="closed twice"):
        await endpoint.aclose()
    assert len(handle.violations) == 2


class TwoBugsPool(RoundRobinPool[Any, Any, Any, Any]):
    """Breaks the contract twice: with two members or more it hides one from members();
    having never held more than one, its aclose() raises."""

    most = 0

    def members(self) -> dict[Any, Any]:
        members = super().members()
        self.most = max(self.most, len(members))
        if len(members) >= 2:
            members.pop(next(iter(members)))
        return members

    async def aclose(self) -> None:
        await super().aclose()
        if self.most <= 1:
            raise RuntimeError("aclose is broken")


def test_check_pool_raises_one_assertion_error_listing_every_failure() -> None:
    # Hypothesis finds both bugs and reports them as a group; check_pool must still
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
