"""`await_inline`: awaiting in the current task, knowing whether it yielded."""

from __future__ import annotations

import pytest
import trio
import trio.lowlevel
import trio.testing

from trio_pool._pool._inline import await_inline


async def test_a_coroutine_that_completes_at_once_does_not_block() -> None:
    blocked: list[str] = []

    async def instant() -> str:
        return "done"

    assert not await await_inline(instant(), blocked.append, "instant")
    assert blocked == []


async def test_a_coroutine_that_yields_is_run_to_its_end_here() -> None:
    blocked: list[str] = []
    event = trio.Event()
    steps: list[str] = []

    async def waits() -> None:
        steps.append("before")
        await event.wait()
        steps.append("after")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.testing.wait_all_tasks_blocked)
        nursery.start_soon(lambda: _set_later(event))
        assert await await_inline(waits(), blocked.append, "waits")
    assert blocked == ["waits"], "on_block runs once, before the first yield"
    assert steps == ["before", "after"]


async def _set_later(event: trio.Event) -> None:
    await trio.testing.wait_all_tasks_blocked()
    event.set()


async def test_errors_and_cancellation_pass_through() -> None:
    async def fails() -> None:
        await trio.lowlevel.checkpoint()
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        await await_inline(fails(), lambda _: None, None)

    cancelled: list[bool] = []

    async def sleeps() -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.append(True)
            raise

    with trio.move_on_after(0.01) as scope:
        await await_inline(sleeps(), lambda _: None, None)
    assert scope.cancelled_caught
    assert cancelled == [True], "the coroutine saw the cancellation, as with await"


async def test_a_scope_entered_before_can_cancel_the_wait_as_it_blocks() -> None:
    async def sleeps() -> None:
        await trio.sleep_forever()

    with trio.CancelScope() as scope:
        assert await await_inline(sleeps(), lambda s: s.cancel(), scope)
    assert scope.cancelled_caught


async def test_scopes_the_coroutine_opens_before_it_yields_stay_nested() -> None:
    # The coroutine opens a cancel scope and a nursery in its first step: they are
    # its own, nested in whatever the caller had entered before, so exiting them later
    # keeps Trio's scope stack sound.
    async def nested() -> str:
        with trio.move_on_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.sleep, 0)
                await trio.lowlevel.checkpoint()
        return "ok"

    with trio.CancelScope():
        assert await await_inline(nested(), lambda _: None, None)
