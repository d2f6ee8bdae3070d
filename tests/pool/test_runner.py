"""`Runner`: jobs inline in one task, a task each only for those that block."""

from __future__ import annotations

from collections.abc import Coroutine
from itertools import pairwise
from typing import Any

import attrs
import trio
import trio.testing

from trio_pool._pool._runner import Runner


@attrs.define(eq=False)
class Job:
    name: str
    blocks: trio.Event | None = None
    ran: bool = False
    stale: bool = False


@attrs.define(eq=False)
class Handler:
    tasks: set[trio.lowlevel.Task] = attrs.field(factory=set)
    scopes: dict[str, trio.CancelScope] = attrs.field(factory=dict)
    finished: list[str] = attrs.field(factory=list)

    def start(self, job: Job) -> Coroutine[Any, Any, None] | None:
        return None if job.stale else self._run(job)

    def blocked(self, job: Job, scope: trio.CancelScope) -> None:
        self.scopes[job.name] = scope

    async def _run(self, job: Job) -> None:
        self.tasks.add(trio.lowlevel.current_task())
        job.ran = True
        if job.blocks is not None:
            await job.blocks.wait()
        self.finished.append(job.name)


async def test_jobs_that_do_not_block_run_in_one_task() -> None:
    handler = Handler()
    runner = Runner("test")
    jobs = [Job(str(i)) for i in range(2000)]
    for job in jobs[:10]:
        runner.submit(handler, job)  # before run(): they wait for it
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run)
        for job in jobs[10:]:
            runner.submit(handler, job)
        await runner.wait_idle()
        nursery.cancel_scope.cancel()
    assert handler.finished == [job.name for job in jobs], "in order, all of them"
    assert len(handler.tasks) == 1, "one task for all the jobs that completed at once"


async def test_a_job_that_blocks_keeps_its_task_and_the_queue_goes_on() -> None:
    handler = Handler()
    runner = Runner("test")
    gate = trio.Event()
    blocking = [Job(f"b{i}", blocks=gate) for i in range(3)]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run)
        for job in blocking:
            runner.submit(handler, job)
            runner.submit(handler, Job(f"after-{job.name}"))
        await trio.testing.wait_all_tasks_blocked()
        assert handler.finished == ["after-b0", "after-b1", "after-b2"]
        assert runner.blocked == 3
        assert set(handler.scopes) == {"b0", "b1", "b2"}
        gate.set()
        await runner.wait_idle()
        assert sorted(handler.finished) == sorted(
            ["after-b0", "after-b1", "after-b2", "b0", "b1", "b2"]
        )
        assert runner.blocked == 0
        nursery.cancel_scope.cancel()


async def test_a_blocked_job_is_cancelled_through_its_scope() -> None:
    handler = Handler()
    runner = Runner("test")
    stuck = Job("stuck", blocks=trio.Event())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run)
        runner.submit(handler, stuck)
        await trio.testing.wait_all_tasks_blocked()
        handler.scopes["stuck"].cancel()
        await runner.wait_idle()
        assert handler.finished == [], "cancelled, not finished"
        runner.submit(handler, Job("next"))
        await runner.wait_idle()
        assert handler.finished == ["next"], "the runner goes on without the spent task"
        nursery.cancel_scope.cancel()


async def test_stale_jobs_are_skipped() -> None:
    handler = Handler()
    runner = Runner("test")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run)
        runner.submit(handler, Job("stale", stale=True))
        runner.submit(handler, Job("fresh"))
        await runner.wait_idle()
        nursery.cancel_scope.cancel()
    assert handler.finished == ["fresh"]


async def test_tasks_of_blocked_jobs_are_reused() -> None:
    handler = Handler()
    runner = Runner("test")
    spawned = 0

    class Count(trio.abc.Instrument):
        def task_spawned(self, task: trio.lowlevel.Task) -> None:
            nonlocal spawned
            spawned += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run)
        await trio.testing.wait_all_tasks_blocked()
        trio.lowlevel.add_instrument(Count())
        for i in range(100):
            gate = trio.Event()
            runner.submit(handler, Job(str(i), blocks=gate))
            await trio.testing.wait_all_tasks_blocked()
            gate.set()
            await runner.wait_idle()
        nursery.cancel_scope.cancel()
    assert len(handler.finished) == 100
    assert spawned <= 3, f"{spawned} tasks spawned for 100 blocking jobs one after another"


async def test_a_long_queue_lets_other_tasks_run() -> None:
    handler = Handler()
    runner = Runner("test")
    progress: list[int] = []

    async def other() -> None:
        while True:
            progress.append(len(handler.finished))
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for i in range(5000):
            runner.submit(handler, Job(str(i)))
        nursery.start_soon(other)
        nursery.start_soon(runner.run)
        await runner.wait_idle()
        nursery.cancel_scope.cancel()
    assert any(0 < done < 5000 for done in progress), "the loop ran between batches"


async def test_one_runner_serves_several_handlers_in_order() -> None:
    first, second = Handler(), Handler()
    runner = Runner("test")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run)
        for i in range(3):
            runner.submit(first, Job(f"a{i}"))
            runner.submit(second, Job(f"b{i}"))
        await runner.wait_idle()
        nursery.cancel_scope.cancel()
    assert first.finished == ["a0", "a1", "a2"]
    assert second.finished == ["b0", "b1", "b2"]
    assert first.tasks == second.tasks, "one task ran them all"


def test_a_handlers_jobs_can_be_taken_out_of_the_queue() -> None:
    first, second = Handler(), Handler()
    runner = Runner("test")
    runner.submit(first, Job("a"))
    runner.submit(second, Job("b"))
    runner.submit(first, Job("c"))
    assert [job.name for job in runner.take_queued(first)] == ["a", "c"]
    assert [job.name for job in runner.take_queued(second)] == ["b"]
    assert runner.take_queued(first) == []


async def test_a_job_worth_many_lets_other_tasks_run_sooner() -> None:
    # Jobs that charge for the work of 64 (making 64 endpoints, say): about four of them
    # per tick, not the 256 plain jobs a tick holds.
    runner = Runner("test")
    ticks: list[int] = []  # how many jobs had run at each tick of another task
    done = 0

    @attrs.define(eq=False)
    class Heavy:
        def start(self, job: int) -> Coroutine[Any, Any, None]:
            return self._run()

        def blocked(self, job: int, scope: trio.CancelScope) -> None:
            raise AssertionError("never blocks")

        async def _run(self) -> None:
            nonlocal done
            done += 1
            runner.charge(64)

    async def watch() -> None:
        while done < 100:
            ticks.append(done)
            await trio.lowlevel.checkpoint()

    heavy = Heavy()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run)
        await trio.testing.wait_all_tasks_blocked()
        for i in range(100):
            runner.submit(heavy, i)
        nursery.start_soon(watch)
        await runner.wait_idle()
        nursery.cancel_scope.cancel()
    # Between two turns of the watcher, the runner may have had two (Trio runs the tasks
    # of a tick in random order): at most two batches of four.
    steps = [b - a for a, b in pairwise(ticks) if b > a]
    assert max(steps) <= 8, f"at most 4 charged jobs a tick, got {steps}"
    assert len(steps) >= 100 // 8, "uncharged, all 100 would run in one tick"
