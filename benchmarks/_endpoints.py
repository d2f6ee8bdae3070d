"""Instant endpoints of each shape the protocol allows, for the benchmarks that measure
the pool's own cost: nothing else takes time."""

from __future__ import annotations

from typing import Any

import trio


class Plain:
    """An instant endpoint with only the protocol's methods."""

    __slots__ = ()

    def __init__(self, address: Any, target: Any) -> None:
        pass

    async def ready(self) -> None:
        pass

    async def call(self, request: Any) -> Any:
        return request

    async def aclose(self) -> None:
        pass


class Nowait(Plain):
    """An instant endpoint that also says it is ready synchronously."""

    __slots__ = ()

    def ready_nowait(self) -> None:
        pass


class Checkpoint(Plain):
    """A plain endpoint whose ready() checkpoints first, as Trio functions do."""

    __slots__ = ()

    async def ready(self) -> None:
        await trio.lowlevel.checkpoint()


KINDS: dict[str, type[Plain]] = {"plain": Plain, "ready_nowait": Nowait}
"""The two shapes every benchmark measures: plain by default, ``ready_nowait`` beside."""
