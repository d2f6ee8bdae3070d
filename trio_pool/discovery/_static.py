"""`StaticDiscovery`: a fixed set of endpoints."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import attrs
import trio

from .._update import Reset, Update
from . import _validate
from ._meta import Meta
from ._metrics import DiscoveryMetrics
from ._record import Address
from ._tracker import Tracker

__all__ = ["StaticDiscovery"]

logger = logging.getLogger("trio_pool.discovery.static")

_NO_META = Meta()


def _looks_like_an_address(item: object) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], int)
        and not isinstance(item[1], bool)
    )


def _endpoint_pairs(value: object) -> tuple[tuple[Address, Any], ...]:
    # The addresses first: an address given without its target, ("10.0.0.1", 8080), is
    # a valid pair too (address "10.0.0.1", target 8080), and would otherwise show only
    # as endpoints that never connect.
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | bytearray):
        value = list(value)
        for item in value:
            if _looks_like_an_address(item):
                raise TypeError(
                    f"StaticDiscovery takes ((host, port), target) pairs; {item!r} is an "
                    "address without a target: StaticDiscovery.from_addresses([...]) takes "
                    "bare addresses"
                )
            if isinstance(item, tuple | list) and len(item) == 2:
                try:
                    _validate.host_port(item[0])
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"StaticDiscovery: in {item!r}, {exc}") from None
    # Reset validates the rest: pairs, hashable addresses, no duplicates.
    return Reset(value).endpoints


def _addresses(value: object) -> list[Any]:
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Iterable):
        raise TypeError(f"addresses must be a collection, not a bare {type(value).__name__}")
    addresses = list(value)
    for address in addresses:
        try:
            _validate.host_port(address)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"StaticDiscovery.from_addresses: {exc}") from None
    return addresses


@attrs.frozen
class StaticDiscovery:
    """A fixed set of endpoints: one `Reset`, then the stream ends.

    Each endpoint is ``((host, port), target)``; `from_addresses` takes bare
    ``(host, port)`` addresses and gives them all one target:

    ```python
    StaticDiscovery([(("10.0.0.1", 8080), Meta(zone="a")), (("10.0.0.2", 8080), Meta())])
    StaticDiscovery.from_addresses([("10.0.0.1", 8080), ("10.0.0.2", 8080)])
    ```

    The end of the stream is normal: the pool keeps these endpoints for as long as it
    runs. Each iteration (each ``async for``) yields the same `Reset` again.

    Raises:
        TypeError: ``endpoints`` is not a collection of ``((host, port), target)`` pairs
            (a bare ``(host, port)`` is refused, with a pointer to `from_addresses`), a
            host is not a str or a port not an int.
        ValueError: a port is out of 1 to 65535, a host is empty or holds whitespace,
            or the same address appears twice.
    """

    endpoints: tuple[tuple[Address, Any], ...] = attrs.field(converter=_endpoint_pairs)
    """The ``(address, target)`` pairs, in the order given."""
    metrics: DiscoveryMetrics | None = attrs.field(
        default=None, kw_only=True, validator=_validate.metrics
    )
    """Counts the `Reset` under ``source="static"``, or ``None``."""

    @classmethod
    def from_addresses(
        cls,
        addresses: Iterable[Address],
        *,
        target: Any = _NO_META,
        metrics: DiscoveryMetrics | None = None,
    ) -> StaticDiscovery:
        """The endpoints at ``addresses``, ``(host, port)`` each, all with the same
        ``target`` (``Meta()``, the empty target of the other built-in sources, unless
        given)."""
        return cls([(address, target) for address in _addresses(addresses)], metrics=metrics)

    def __aiter__(self) -> AsyncGenerator[Update, None]:
        return self._updates()

    async def _updates(self) -> AsyncGenerator[Update, None]:
        tracker = Tracker("static", "static endpoints", logger, self.metrics)
        await trio.lowlevel.checkpoint()
        for update in tracker.reset(dict(self.endpoints)):
            yield update
