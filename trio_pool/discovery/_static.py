"""`StaticDiscovery`: a fixed set of endpoints."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Hashable, Iterable
from typing import Any

import attrs
import trio

from .._update import Reset, Update
from . import _validate
from ._meta import Meta
from ._metrics import DiscoveryMetrics
from ._tracker import Tracker

__all__ = ["StaticDiscovery"]

logger = logging.getLogger("trio_pool.discovery.static")

_NO_META = Meta()


def _endpoint_pairs(value: object) -> tuple[tuple[Any, Any], ...]:
    # Reset validates: pairs, hashable addresses, no duplicates.
    return Reset(value).endpoints


@attrs.frozen
class StaticDiscovery:
    """A fixed set of ``(address, target)`` endpoints: one `Reset`, then the stream ends.

    The end of the stream is normal: the pool keeps these endpoints for as long as it
    runs. Each iteration (each ``async for``) yields the same `Reset` again.

    ```python
    discovery = StaticDiscovery([(("10.0.0.1", 8080), None), (("10.0.0.2", 8080), None)])
    discovery = StaticDiscovery.from_addresses([("10.0.0.1", 8080), ("10.0.0.2", 8080)])
    ```

    Raises:
        TypeError: ``endpoints`` is not a collection of pairs, or an address is unhashable.
        ValueError: the same address appears twice.
    """

    endpoints: tuple[tuple[Any, Any], ...] = attrs.field(converter=_endpoint_pairs)
    """The ``(address, target)`` pairs, in the order given."""
    metrics: DiscoveryMetrics | None = attrs.field(
        default=None, kw_only=True, validator=_validate.metrics
    )
    """Counts the `Reset` under ``source="static"``, or ``None``."""

    @classmethod
    def from_addresses(
        cls,
        addresses: Iterable[Hashable],
        *,
        target: Any = _NO_META,
        metrics: DiscoveryMetrics | None = None,
    ) -> StaticDiscovery:
        """The endpoints at ``addresses``, each with the same ``target`` (``Meta()``,
        the empty target of the other built-in sources, unless given)."""
        if isinstance(addresses, str | bytes):
            raise TypeError(
                f"addresses must be a collection, not a bare {type(addresses).__name__}"
            )
        return cls([(address, target) for address in addresses], metrics=metrics)

    def __aiter__(self) -> AsyncGenerator[Update, None]:
        return self._updates()

    async def _updates(self) -> AsyncGenerator[Update, None]:
        tracker = Tracker("static", "static endpoints", logger, self.metrics)
        await trio.lowlevel.checkpoint()
        for update in tracker.reset(dict(self.endpoints)):
            yield update
