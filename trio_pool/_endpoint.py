"""The endpoint protocol: one backend that a pool balances over."""

from __future__ import annotations

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
    ``aclose()`` is called once when the endpoint is evicted or the pool closes; a pool calls
    it only if the endpoint has it, so an endpoint with nothing to release may leave it out.
    """

    async def ready(self) -> None:
        """Return once this endpoint can take one more request; raise if it has failed."""
        ...

    async def call(self, request: Req_contra) -> Rsp_co:
        """Send ``request`` and return its response, or raise the endpoint's own error."""
        ...

    async def aclose(self) -> None:
        """Release what the endpoint holds (connections, tasks); called when it is evicted."""
        ...
