"""Closing on the way out: `close_within` a resource without letting it hold the way, and
`close_unawaited` a bound call that nobody will await."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import trio

__all__ = ["close_unawaited", "close_within"]

logger = logging.getLogger("trio_pool.queue")


async def close_within(resource: object, grace: float, what: str, logger: logging.Logger) -> None:
    """Await ``resource.aclose()``, if it has one, for ``grace`` seconds at most.

    Shielded, because it runs while the caller may be cancelled; a failure or a hang is
    logged as closing ``what``, never raised over what the caller is doing.
    """
    aclose = getattr(resource, "aclose", None)
    if aclose is None:
        return
    with trio.move_on_after(grace, shield=True) as scope:
        try:
            await aclose()
        except Exception as exc:
            logger.warning("closing %s failed: %r", what, exc)
    if scope.cancelled_caught:
        logger.warning("closing %s took more than %g s; given up", what, grace)


def close_unawaited(bound: Awaitable[Any]) -> None:
    """Close a bound call that will not be awaited (its caller went away, or its retry
    is not sent).

    A coroutine's ``close()`` runs nothing of its body; a pool whose ``call`` does load
    accounting up front returns an awaitable whose ``close()`` undoes it.
    """
    close = getattr(bound, "close", None)
    if close is None:
        logger.warning("bound call %r has no close(); it was dropped unawaited", bound)
        return
    try:
        close()
    except Exception as exc:
        # Raised in a caller that is leaving with an error of its own (often Cancelled),
        # which this must not replace.
        logger.warning("closing the unawaited bound call %r failed: %r", bound, exc)
