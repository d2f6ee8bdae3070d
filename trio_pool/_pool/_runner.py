"""`Runner`: short async jobs without a task each, and a task each for those that block.

A pool has many small waits to run: an endpoint's ``ready()`` after a call, a hundred
thousand of them after a large `Reset`, an evicted endpoint's ``aclose()``. Most of them
complete at once, without yielding to the event loop; a task per wait would cost more
than the wait (spawning a Trio task costs several microseconds, and memory).

So one task, the *looper*, takes the jobs from a queue and awaits each in turn, in its
own frame (`await_inline`). A job that completes without yielding costs a coroutine and
nothing else. A job that is about to block keeps the task it started in, which runs it
to its end, while the queue passes, before that first yield, to another task: one
parked after an earlier wait if there is one, a new one otherwise. A task whose blocking
job has ended loops again if no other task does, parks as a spare if few do, and exits
otherwise. The number of tasks thus follows the number of waits that really block at
the same time, and nothing else.

Each task runs under a cancel scope of its own, entered before any job starts (a scope
entered once a job has started would break Trio's scope stack). A job that blocks is
given that scope, so that cancelling it ends the wait, say when its endpoint is
evicted; the task then exits, its scope spent.

A job is an item and the `JobHandler` that owns it, which makes the item's coroutine
(or says it is stale) and learns the scope of a job that blocks. One runner serves a
whole pool (readiness waits and closes alike), so a tick that needs both wakes one task.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, NoReturn, Protocol, TypeVar

import attrs
import trio

from ._inline import await_inline

__all__ = ["JobHandler", "Runner"]

Item = TypeVar("Item")
Item_contra = TypeVar("Item_contra", contravariant=True)

# Parked tasks kept for the next job that blocks; more would only hold memory.
_SPARES = 2
# Jobs run in a row before the looper lets other tasks run: a long queue (a Reset of
# many endpoints) must not hold up the event loop.
_BATCH = 256
# Ticks the looper waits for more jobs before it parks.
_LINGER = 2


class JobHandler(Protocol[Item_contra]):
    """What a `Runner` asks of the owner of its jobs."""

    def start(self, item: Item_contra) -> Any:
        """The coroutine of ``item``'s job, or ``None`` if the job is stale."""
        ...

    def blocked(self, item: Item_contra, scope: trio.CancelScope) -> None:
        """``item``'s job is about to block, in a task of its own under ``scope``:
        cancel the scope to end the wait, or give it a deadline."""
        ...


@attrs.define(eq=False, slots=True)
class _Task:
    """One task of a runner: its cancel scope, its job, and whether the job blocked."""

    scope: trio.CancelScope
    blocked: bool = False
    job: tuple[JobHandler[Any], Any] = (None, None)  # type: ignore[assignment]


@attrs.define(eq=False)
class Runner:
    """A queue of jobs, run inline by one task and handed off when one blocks.

    ``submit`` never blocks; jobs run once ``run`` is running (jobs submitted before
    wait for it). ``run`` never returns: cancel it to stop, which cancels every job
    running.
    """

    _name: str
    _jobs: deque[tuple[JobHandler[Any], Any]] = attrs.field(factory=deque, init=False)
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)
    _lot: trio.lowlevel.ParkingLot = attrs.field(factory=trio.lowlevel.ParkingLot, init=False)
    # Whether a task is looping over the queue, or has been woken or spawned to.
    _looping: bool = attrs.field(default=False, init=False)
    _blocked: int = attrs.field(default=0, init=False)
    _idle: trio.Event | None = attrs.field(default=None, init=False)
    # What the job running now said it was worth, beyond one job (see charge).
    _charged: int = attrs.field(default=0, init=False)

    def submit(self, handler: JobHandler[Item], item: Item) -> None:
        """Queue ``item``'s job, which ``handler`` runs."""
        self._jobs.append((handler, item))
        if not self._looping:
            self._wake()

    def charge(self, jobs: int) -> None:
        """The job running now did the work of ``jobs`` jobs (made that many endpoints,
        say): the runner lets other tasks run that much sooner."""
        self._charged += jobs

    @property
    def blocked(self) -> int:
        """Jobs that block, each in its own task."""
        return self._blocked

    def take_queued(self, handler: JobHandler[Item]) -> list[Item]:
        """Take ``handler``'s jobs not started yet out of the queue (to run elsewhere)."""
        taken = [item for owner, item in self._jobs if owner is handler]
        kept = [(owner, item) for owner, item in self._jobs if owner is not handler]
        self._jobs.clear()
        self._jobs.extend(kept)
        return taken

    async def wait_idle(self) -> None:
        """Wait until no job is queued or running."""
        while self._jobs or self._looping or self._blocked:
            self._idle = trio.Event()
            await self._idle.wait()

    async def run(self) -> NoReturn:
        """Run the jobs until cancelled."""
        if self._nursery is not None:
            raise RuntimeError(f"{self._name} is already running")
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._looping = False
                try:
                    if self._jobs:
                        self._wake()
                    await trio.sleep_forever()
                finally:
                    # Stopping: a job submitted from now on (by a caller's task, which
                    # outlives the pool's) stays queued for whoever runs it next.
                    self._nursery = None
        finally:
            self._looping = False
            self._blocked = 0
        raise AssertionError("unreachable: sleep_forever() returned")

    def _wake(self) -> None:
        if self._nursery is None:
            return  # run() starts a looper when it starts
        self._looping = True
        if not self._lot.unpark(count=1):
            self._nursery.start_soon(self._task, name=self._name)

    def _maybe_idle(self) -> None:
        if self._idle is not None and not (self._jobs or self._looping or self._blocked):
            self._idle.set()
            self._idle = None

    async def _task(self) -> None:
        # Starts as the looper: _wake() set _looping for it.
        with trio.CancelScope() as scope:
            task = _Task(scope)
            try:
                while True:
                    await self._loop(task)
                    if task.blocked:
                        # Its blocked job ended: loop again if nobody does, else stand by.
                        task.blocked = False
                        self._blocked -= 1
                        if scope.cancel_called:
                            # Cancelled as the job ended anyway (its item left, or it ran
                            # out of time): the scope is spent, and so is the task.
                            self._maybe_idle()
                            return
                        if scope.deadline != math.inf:
                            scope.deadline = math.inf
                        if not self._looping and self._jobs:
                            self._looping = True
                            continue
                        self._maybe_idle()
                        if len(self._lot) >= _SPARES:
                            return
                    await self._lot.park()
            finally:
                if task.blocked:
                    # Cancelled through its scope while blocked (its item left): the task
                    # is spent.
                    self._blocked -= 1
                    self._maybe_idle()

    async def _loop(self, task: _Task) -> None:
        """Run queued jobs until the queue is empty, or one blocks (run here to its end)."""
        jobs = self._jobs
        ran = idle = 0
        while True:
            if not jobs:
                if idle == _LINGER:
                    break
                # Jobs tend to come tick after tick (an update per tick, a call per
                # tick): waiting for them a few ticks costs less than parking and being
                # woken for each.
                idle += 1
                await trio.lowlevel.cancel_shielded_checkpoint()
                continue
            if ran >= _BATCH:
                ran = 0
                await trio.lowlevel.cancel_shielded_checkpoint()
                continue
            idle = 0
            handler, item = jobs.popleft()
            coroutine = handler.start(item)
            if coroutine is None:
                continue
            task.job = handler, item
            blocked = await await_inline(coroutine, self._block, task)
            ran += 1 + self._charged
            self._charged = 0
            if blocked:
                return  # it blocked, and ran to its end here
        self._looping = False
        self._maybe_idle()

    def _block(self, task: _Task) -> None:
        # A job is about to wait: the queue passes to another task first.
        task.blocked = True
        self._blocked += 1
        self._looping = False
        if self._jobs:
            self._wake()
        handler, item = task.job
        handler.blocked(item, task.scope)
