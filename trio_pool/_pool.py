"""The pool protocol: what ``open_pool_queue`` drives.

Membership changes (``reset_pool``, ``add_endpoint``, ``remove_endpoint``) are synchronous
and always applied the moment discovery yields them. Two loops consume the pool
concurrently, decoupled on purpose: ``drive()`` moves pending endpoints to ready in the
background, whether or not requests flow, and ``ready()`` is awaited by the queue's worker
only when it holds a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Hashable, Iterable
from typing import NoReturn, Protocol, TypeVar

__all__ = ["Pool"]

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

    An optional extension that ``open_pool_queue`` uses when a pool has it:

    - ``ready_nowait() -> None``: select an endpoint for the next call if one is ready
      right now, or raise ``trio.WouldBlock``; never blocks. With it, a call that finds the
      queue empty is bound in the caller's own task, skipping the hop through the worker.
      It makes things faster, never correct: a pool without it is served as well.
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
