"""`close_within`: closing something on the way out, without letting it hold the way."""

from __future__ import annotations

import logging

import trio

__all__ = ["close_within"]


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
