"""`BoundCall`: whatever happens to a bound call, its accounting ends exactly once."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import trio

from trio_pool import BoundCall, CallOutcome


class CloseRaises:
    """An awaitable whose own close() raises: an endpoint's bug."""

    def __await__(self) -> Generator[Any, None, str]:
        yield from ()
        return "never"

    def close(self) -> None:
        raise RuntimeError("close failed")


def test_closing_a_call_whose_close_raises_ends_its_accounting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[CallOutcome] = []
    bound = BoundCall(CloseRaises(), outcomes.append)
    bound.close()  # logged, not raised: the caller that dropped it is leaving already
    assert outcomes == [CallOutcome.DROPPED]
    assert "close failed" in caplog.text
    bound.close()
    assert outcomes == [CallOutcome.DROPPED], "accounting ends once"


async def test_each_way_a_call_ends_is_reported_once() -> None:
    async def answer() -> str:
        await trio.lowlevel.checkpoint()
        return "ok"

    async def fail() -> str:
        raise ConnectionError("down")

    outcomes: list[CallOutcome] = []
    assert await BoundCall(answer(), outcomes.append) == "ok"
    with pytest.raises(ConnectionError):
        await BoundCall(fail(), outcomes.append)
    with trio.CancelScope() as scope:
        scope.cancel()
        await BoundCall(answer(), outcomes.append)
    dropped = BoundCall(answer(), outcomes.append)
    dropped.close()
    assert outcomes == [
        CallOutcome.OK,
        CallOutcome.FAILED,
        CallOutcome.CANCELLED,
        CallOutcome.DROPPED,
    ]
