"""What travels from a caller to the worker, and the one-shot reply that comes back."""

from __future__ import annotations

from collections.abc import Awaitable, Hashable
from collections.abc import Set as AbstractSet
from typing import Any, Generic, TypeVar

import attrs
import trio

from .._close import close_unawaited

__all__ = ["Message", "Reply"]

Req = TypeVar("Req")
Rsp = TypeVar("Rsp")


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
    ``first`` is false for a retry or a hedge, which a failing pool fails at once;
    ``tries_failed`` counts the tries of a failing pool's endpoints that had failed when
    it was queued (`Dispatch.tries_failed`): one that failed since is its outcome too.
    """

    request: Req
    reply: Reply[Rsp]
    enqueued_at: float
    avoid: AbstractSet[Hashable] | None = None
    first: bool = True
    tries_failed: int = 0
