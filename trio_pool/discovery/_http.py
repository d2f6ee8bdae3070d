"""What the httpx-based sources (etcd, Kubernetes) share: leaving a streamed body early."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import trio

__all__ = ["abandon"]

logger = logging.getLogger("trio_pool.discovery")


async def abandon(lines: AsyncIterator[str]) -> None:
    """Stop reading a response early, without leaving async generators to the GC.

    httpx reads a body through a chain of async generators (lines, text, bytes, the
    transport's stream...). Closing the outermost one leaves the inner ones suspended,
    for the garbage collector, which Trio reports with a ``ResourceWarning``. A read
    that is cancelled instead makes the innermost generator raise, and every generator
    of the chain finishes with that exception; the connection is closed on the way.
    """
    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            while True:
                await anext(lines)
        except StopAsyncIteration:
            pass
        except Exception as exc:
            logger.debug("the abandoned stream ended with %r", exc)
