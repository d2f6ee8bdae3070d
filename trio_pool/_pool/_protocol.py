"""The protocols: `Pool`, what ``open_pool_queue`` drives, and `Endpoint`, what a pool
balances over.

Membership changes (``reset_pool``, ``add_endpoint``, ``remove_endpoint``) are synchronous
and always applied the moment discovery yields them. Two loops consume the pool
concurrently, decoupled on purpose: ``drive()`` moves pending endpoints to ready in the
background, whether or not requests flow, and ``ready()`` is awaited by the queue's worker
only when it holds a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Hashable, Iterable
from typing import NoReturn, Protocol, TypeVar

__all__ = ["Endpoint", "Pool"]

Addr_contra = TypeVar("Addr_contra", bound=Hashable, contravariant=True)
T_contra = TypeVar("T_contra", contravariant=True)
Req_contra = TypeVar("Req_contra", contravariant=True)
Rsp_co = TypeVar("Rsp_co", covariant=True)


class Pool(Protocol[Addr_contra, T_contra, Req_contra, Rsp_co]):
    """A set of endpoints that can be updated, driven to readiness and called.

    ``ready()`` returns once an endpoint is *selected* for the next call, and ``call()``
    binds the request to that endpoint synchronously, with no checkpoint in between, so no
    update can slip between the two. The awaitable that ``call`` returns is awaited in the
    caller's task, so the caller's cancellation and the endpoint's errors stay with the
    caller. If the caller goes away before awaiting it, the queue calls its ``close()``
    (a coroutine has one): the pool must not leak load accounting either way.

    An error that ``call`` raises, or that its awaitable raises, is that request's own:
    it fails that request only, never the queue. An error from ``drive()`` or ``ready()``
    means the pool is broken: the queue closes.

    ``aclose()`` closes every endpoint the pool holds; the queue awaits it once, when it
    closes, shielded, within a grace period.

    Optional extensions that ``open_pool_queue`` uses when a pool has them:

    - ``ready_nowait() -> None``: select an endpoint for the next call if one is ready
      right now, or raise ``trio.WouldBlock``; never blocks. With it, a call that finds the
      queue empty is bound in the caller's own task, skipping the hop through the worker.
      It makes things faster, never correct: a pool without it is served as well.
    - ``call_avoiding(request, avoid) -> tuple[Awaitable[Rsp], Addr]``: what ``call``
      does, but preferring an endpoint whose address is not in ``avoid`` (a set the pool
      only reads, during the call) when one is ready now, and telling the address the
      request was bound to. The queue binds the attempts of calls with a `RetryPolicy`
      or `Hedging` this way, with the addresses the request was sent to so far, so a
      retry or a hedge goes to another endpoint; it never waits for one, and falls back
      to the endpoint ``ready()`` selected. Without it, retries and hedges go wherever
      the pool sends them.
    - ``ready_elsewhere(avoid) -> bool``: whether an endpoint whose address is not in
      ``avoid`` is ready now. A retry that must go to an endpoint not tried yet
      (``RetryPolicy(distinct_endpoints=True)``) is given up at once, without its
      backoff or ``Retry-After`` wait, when the pool says none is. Without it, the retry
      waits, then finds out.
    - ``failing() -> BaseException | None`` and ``async ready_or_failing(*,
      retry_failed: bool) -> BaseException | None``, for a queue opened with
      ``wait_for_ready=False``: a pool is *failing* when every endpoint failed its
      latest try to become ready, none being ready or on its first try (gRPC's
      TRANSIENT_FAILURE); ``failing()`` then returns the last endpoint error, else
      ``None``. ``ready_or_failing`` is ``ready()`` that returns ``None`` once an
      endpoint is selected, or the last error as soon as the pool is failing; with
      ``retry_failed``, a pool failing when it is called first tries its failed
      endpoints again at once (their backoff cut short) and returns the error only
      once those tries failed too. Without them, the queue waits for a failing pool.
    """

    def reset_pool(self, endpoints: Iterable[tuple[Addr_contra, T_contra]]) -> None:
        """Make the pool hold exactly ``endpoints``, keeping those that did not change."""
        ...

    def add_endpoint(self, address: Addr_contra, target: T_contra) -> None:
        """Add an endpoint, or rebuild it if ``address`` is present with another target."""
        ...

    def remove_endpoint(self, address: Addr_contra) -> None:
        """Evict the endpoint at ``address``, if there is one."""
        ...

    async def drive(self) -> NoReturn:
        """Run forever, moving pending endpoints to ready; raise only if the pool is broken."""
        ...

    async def ready(self) -> None:
        """Return once an endpoint is selected for the next ``call``."""
        ...

    def call(self, request: Req_contra) -> Awaitable[Rsp_co]:
        """Bind ``request`` to the selected endpoint and return the call to await."""
        ...

    async def aclose(self) -> None:
        """Close every endpoint the pool holds; called once, when the queue closes."""
        ...


class Endpoint(Protocol[Req_contra, Rsp_co]):
    """One backend: something that can become ready and then take a request.

    A pool builds endpoints with its ``new_endpoint(address, target)`` factory. Readiness is
    per request: ``ready()`` returns once the endpoint can take *one more* request (say, a
    connection slot is free); a pool awaits it before each call it routes there.

    An endpoint whose ``ready()`` raises is not fatal: the pool logs it, re-creates it from
    the factory after an exponential backoff, and balances over the others meanwhile.
    An error from ``call`` (raised at once or by the awaitable) fails that request only.

    Where ``ready()`` runs is the pool's business, and cheap when it returns at once: the
    shipped pools may await it right after binding a call, in the task of the caller
    whose request was bound, in a cancel scope that ends it at its first cancel point
    (a ``ready()`` that would wait is then awaited again in a task of the pool's); or
    in a task of the pool's that runs many of them. So ``ready()`` must be safe to
    cancel at any checkpoint (Trio code is) and must not rely on the task it runs in.

    Optional methods, used when an endpoint has them (so they are not part of the
    protocol's type); the three above always suffice, and are fast too:

    - ``async aclose() -> None``: release what the endpoint holds (connections, tasks).
      Called once when the endpoint is evicted or the pool closes, after the calls still
      running on it have ended (within the pool's close grace period).
    - ``ready_nowait() -> None``: return if the endpoint can take one more request right
      now, raise ``trio.WouldBlock`` if it cannot, raise anything else if it failed. With
      it, the shipped pools keep the endpoint in their ready list between calls and ask
      it again when they pick it. It must count calls already bound to the endpoint but
      not started yet.
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
