"""The endpoint protocol: one backend that a pool balances over."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeVar

__all__ = ["Endpoint"]

Req_contra = TypeVar("Req_contra", contravariant=True)
Rsp_co = TypeVar("Rsp_co", covariant=True)


class Endpoint(Protocol[Req_contra, Rsp_co]):
    """One backend: something that can become ready and then take a request.

    A pool builds endpoints with its ``new_endpoint(address, target)`` factory. Readiness is
    per request: ``ready()`` returns once the endpoint can take *one more* request (say, a
    connection slot is free); a pool awaits it before each call it routes there.

    An endpoint whose ``ready()`` raises is not fatal: the pool logs it, re-creates it from
    the factory after an exponential backoff, and balances over the others meanwhile.

    Optional methods, used when an endpoint has them (so they are not part of the
    protocol's type):

    - ``async aclose() -> None``: release what the endpoint holds (connections, tasks).
      Called once when the endpoint is evicted or the pool closes, after the calls still
      running on it have ended.
    - ``ready_nowait() -> None``: return if the endpoint can take one more request right
      now, raise ``trio.WouldBlock`` if it cannot, raise anything else if it failed. With
      it, the shipped pools need no task to learn that an endpoint is ready, and keep it
      in their ready list between calls. It must count calls already bound to the
      endpoint but not started yet.
    - ``call_leased(request, lease) -> Awaitable[Rsp]``: used instead of ``call`` when
      present. The pool hands over a fresh `Lease`; a call that returns stays counted
      against the endpoint (its load, the pool's calls in flight, the wait before an
      evicted endpoint is closed) until the endpoint releases the lease, say when a
      response body read after the call returned is closed.
    """

    async def ready(self) -> None:
        """Return once this endpoint can take one more request; raise if it has failed."""
        ...

    def call(self, request: Req_contra) -> Awaitable[Rsp_co]:
        """Send ``request`` and return its response, or raise the endpoint's own error.

        Usually an ``async def``. Pools call it when they bind the request and await the
        result in the caller's task; if the caller leaves first, they ``close()`` it.
        """
        ...
