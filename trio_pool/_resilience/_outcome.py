"""`Outcome`: what one attempt ended with, and how responses that lose are let go."""

from __future__ import annotations

import logging
from typing import Any

import attrs

from .._close import close_within

__all__ = ["DISCARD_GRACE", "Outcome", "discard"]

logger = logging.getLogger("trio_pool.queue")

DISCARD_GRACE = 1.0
"""Seconds a response that is not delivered gets to close."""


@attrs.define(eq=False, slots=True)
class Outcome:
    """One attempt's outcome: its response or its error, and what it is worth.

    ``final`` outcomes end a race of copies (a response not worth another try, or an
    error in classifying one); ``worth_retry`` says whether the retry policy would try
    again after it.
    """

    value: Any
    """The response, or the exception the attempt raised."""
    is_error: bool
    worth_retry: bool
    final: bool
    real: bool = True
    """Whether it came from an endpoint (its response or its error), rather than from
    the queue (its refusals: `trio_pool.PoolError`) or a retry that was not sent: a
    call whose retry ends with an outcome that is not real gets its last real one."""

    def unwrap(self) -> Any:
        """The response, or raise the error as it was raised."""
        if self.is_error:
            raise self.value
        return self.value


async def discard(outcome: Outcome | None) -> None:
    """Close a response that will not be delivered, if it has ``aclose()``.

    An httpx response holds its connection until closed. Closing is shielded, within a
    grace period, because it runs while the caller may be cancelled; its failure is
    logged, never raised over the outcome the caller does get.
    """
    if outcome is not None and not outcome.is_error:
        await close_within(
            outcome.value, DISCARD_GRACE, "a response that was not delivered", logger
        )
