"""Endpoints scripted by the test, and a factory that records every one it makes."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import attrs
import trio


@attrs.define(eq=False)
class FakeEndpoint:
    """Ready, not ready or failing as the test says; answers after ``latency`` seconds.

    With ``nowait`` it offers ``ready_nowait()``; without, only ``ready()``. With
    ``instant``, ``ready()`` returns without a checkpoint when the endpoint is ready
    (otherwise it checkpoints first, as Trio functions do). ``call_error`` is raised
    at once by ``call()`` itself, not by its awaitable.
    """

    address: Hashable
    target: Any
    nowait: bool = True
    instant: bool = False
    latency: float = 0.0
    call_error: Exception | None = None
    fail_calls: bool = False
    is_ready: bool = True
    ready_error: Exception | None = None
    calls: list[Any] = attrs.field(factory=list)
    ready_waits: int = 0
    ready_cancelled: int = 0
    closed: bool = False
    _changed: trio.Event = attrs.field(factory=trio.Event)

    def set_ready(self, ready: bool) -> None:
        self.is_ready = ready
        self._changed.set()
        self._changed = trio.Event()

    def fail_ready(self, error: Exception) -> None:
        self.ready_error = error
        self.set_ready(False)

    def __getattr__(self, name: str) -> Any:
        # ready_nowait exists only on endpoints made with nowait=True.
        if name == "ready_nowait" and self.nowait:
            return self._ready_nowait
        raise AttributeError(name)

    def _ready_nowait(self) -> None:
        if self.ready_error is not None:
            raise self.ready_error
        if not self.is_ready:
            raise trio.WouldBlock

    async def ready(self) -> None:
        self.ready_waits += 1
        try:
            if self.instant and self.is_ready and self.ready_error is None:
                return
            await trio.lowlevel.checkpoint()
            while not self.is_ready:
                if self.ready_error is not None:
                    raise self.ready_error
                await self._changed.wait()
        except trio.Cancelled:
            self.ready_cancelled += 1
            raise

    def call(self, request: Any) -> Any:
        if self.call_error is not None:
            raise self.call_error
        self.calls.append(request)
        return self._answer(request)

    async def _answer(self, request: Any) -> Any:
        await trio.sleep(self.latency)
        if self.fail_calls:
            raise ConnectionError(f"{self.address} failed {request!r}")
        return (self.address, request)

    async def aclose(self) -> None:
        assert not self.closed, "an endpoint is closed once"
        self.closed = True
        await trio.lowlevel.checkpoint()


@attrs.define(eq=False)
class Factory:
    """``new_endpoint`` for pools under test; ``options`` apply to every endpoint made."""

    options: dict[str, Any] = attrs.field(factory=dict)
    made: list[FakeEndpoint] = attrs.field(factory=list)
    made_at: list[float] = attrs.field(factory=list)
    fail_next: int = 0

    def __call__(self, address: Hashable, target: Any) -> FakeEndpoint:
        if self.fail_next:
            self.fail_next -= 1
            raise OSError(f"cannot make {address!r}")
        endpoint = FakeEndpoint(address, target, **self.options)
        self.made.append(endpoint)
        self.made_at.append(trio.current_time())
        return endpoint

    def live(self, address: Hashable) -> FakeEndpoint:
        """The latest endpoint made for ``address``."""
        return [e for e in self.made if e.address == address][-1]
