"""What the httpx transport tests share: discovery streams and pools the test can inspect."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Hashable, Iterable
from typing import Any

import attrs
import trio

from trio_pool import Load, P2CPool, PeakEwma, Reset, Update

from ._flavour import Authority, NewEndpoint, httpx


async def static(addresses: Iterable[Hashable]) -> AsyncIterator[Update]:
    """Discovery that yields one `Reset` of ``addresses``, then stays open."""
    yield Reset([(address, None) for address in addresses])
    await trio.sleep_forever()


@attrs.define(eq=False)
class Resolver:
    """``resolve`` for the transport: each authority's addresses, by ``str(authority)``
    (``"api.test:80"``) or by origin (``"https://api.test:443"``), which wins; records
    the authorities it was called with."""

    addresses: dict[str, list[tuple[str, int]]]
    calls: list[Authority] = attrs.field(factory=list)

    def __call__(self, authority: Authority) -> AsyncIterator[Update]:
        assert isinstance(authority, Authority), f"resolve gets an Authority: {authority!r}"
        self.calls.append(authority)
        addresses = self.addresses.get(authority.origin)
        if addresses is None:
            addresses = self.addresses[str(authority)]
        return static(addresses)


@attrs.define(eq=False)
class Pools:
    """``new_pool`` for the transport: P2C pools with a seeded picker, kept for inspection."""

    load: Load = attrs.field(factory=PeakEwma)
    seed: int = 0
    made: list[P2CPool[Any, Any, httpx.Request, httpx.Response]] = attrs.field(factory=list)

    def __call__(self, new_endpoint: NewEndpoint) -> P2CPool[Any, Any, Any, Any]:
        pool: P2CPool[Any, Any, httpx.Request, httpx.Response] = P2CPool(
            new_endpoint,
            load=self.load,
            rng=random.Random(self.seed + len(self.made)),
            metrics=new_endpoint.pool_metrics,
        )
        self.made.append(pool)
        return pool

    @property
    def in_flight(self) -> int:
        """Calls bound and not yet ended, over every pool made."""
        return sum(pool.statistics().in_flight for pool in self.made)
