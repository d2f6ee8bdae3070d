"""What travels from a caller to the worker, and the one-shot reply that comes back."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Hashable
from collections.abc import Set as AbstractSet
from typing import Any, Generic, TypeVar

import attrs
import trio

__all__ = ["Message", "Reply", "close_unawaited"]

Req = TypeVar("Req")
Rsp = TypeVar("Rsp")

logger = logging.getLogger("trio_pool.queue")


def close_unawaited(bound: Awaitable[Any]) -> None:
    """Close a bound call whose caller went away before awaiting it.

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


@attrs.define(eq=False, slots=True)
class Reply(Generic[Rsp]):
    """A one-shot slot: the worker puts one bound call or one error, the caller takes it.

    The worker never blocks on it. A caller that leaves marks it abandoned; a bound call
    that arrives after that (or arrived and was never taken) is closed unawaited, so a
    departed caller leaks no load accounting.
    """

    _event: trio.Event = attrs.field(factory=trio.Event, init=False)
    _bound: Awaitable[Rsp] | None = attrs.field(default=None, init=False)
    _error: Exception | None = attrs.field(default=None, init=False)
    abandoned: bool = attrs.field(default=False, init=False)
    address: Any = attrs.field(default=None, init=False)
    """The address of the endpoint the call was bound to, when the request asked for it
    (`Message.avoid`) and the pool can tell."""

    def send_call(self, bound: Awaitable[Rsp], address: Any = None) -> None:
        if self.abandoned:
            close_unawaited(bound)
            return
        self._bound = bound
        self.address = address
        self._event.set()

    def send_error(self, error: Exception) -> None:
        """Fail the request with ``error``: the queue's own, or its endpoint's."""
        if not self.abandoned:
            self._error = error
            self._event.set()

    def abandon(self) -> None:
        self.abandoned = True
        bound, self._bound = self._bound, None
        if bound is not None:
            close_unawaited(bound)

    async def receive(self) -> Awaitable[Rsp]:
        """Wait for the worker's answer: the bound call to await, or raise its error."""
        await self._event.wait()
        if self._error is not None:
            raise self._error
        bound, self._bound = self._bound, None
        assert bound is not None, "a reply is set only with a bound call or an error"
        return bound


@attrs.define(eq=False, slots=True)
class Message(Generic[Req, Rsp]):
    """One queued request, its reply slot, and when it entered the queue (Trio time).

    An attempt of a call with retries or hedges carries ``avoid``, the addresses its
    request was sent to already (possibly none): it is bound with the pool's
    ``call_avoiding`` where there is one, and the reply tells the address it went to.
    """

    request: Req
    reply: Reply[Rsp]
    enqueued_at: float
    avoid: AbstractSet[Hashable] | None = None
