"""Service-discovery updates: what a discovery stream yields and a pool applies.

An update is a frozen value, validated when it is built, so a malformed one (an
unhashable address, a bare string where a collection belongs, an item that is not an
``(address, target)`` pair, the same address twice) raises there, in the code that made
it, and never reaches a pool.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeAlias, TypeVar

import attrs

__all__ = ["Add", "DoesNotExist", "Remove", "Reset", "Update"]

Addr = TypeVar("Addr", bound=Hashable)
T = TypeVar("T")


def _collection(value: object, what: str) -> list[Any]:
    # A str or bytes is iterable, so without this check Remove("10.0.0.1") would quietly
    # mean "remove the addresses '1', '0', '.'": almost certainly a caller's mistake.
    if isinstance(value, str | bytes | bytearray):
        raise TypeError(f"{what} must be a collection, not a bare {type(value).__name__}")
    if not isinstance(value, Iterable):
        raise TypeError(f"{what} must be iterable, got {type(value).__name__}")
    return list(value)


def _check_address(address: object, seen: set[object], what: str) -> None:
    try:
        duplicate = address in seen
    except TypeError:
        raise TypeError(
            f"{what}: address {address!r} is unhashable ({type(address).__name__})"
        ) from None
    if duplicate:
        raise ValueError(f"{what}: duplicate address {address!r}")
    seen.add(address)


class _Pairs(tuple[tuple[Any, Any], ...]):
    """Endpoint pairs already validated: validating them again is free."""

    __slots__ = ()


def _endpoint_pairs(value: object) -> tuple[tuple[Any, Any], ...]:
    if type(value) is _Pairs:
        return value
    # A mapping is address -> target (the shape of a pool's members()); iterated, it
    # would give its keys only, each (host, port) key then misread as a pair.
    items = list(value.items()) if isinstance(value, Mapping) else _collection(value, "endpoints")
    pairs: list[tuple[Any, Any]] = []
    seen: set[object] = set()
    for item in items:
        if not isinstance(item, Sequence) or isinstance(item, str | bytes | bytearray):
            raise TypeError(f"endpoints: each item must be an (address, target) pair, got {item!r}")
        if len(item) != 2:
            raise TypeError(
                f"endpoints: each item must be an (address, target) pair, got {len(item)} "
                f"elements in {item!r}"
            )
        address, target = item
        _check_address(address, seen, "endpoints")
        pairs.append((address, target))
    return _Pairs(pairs)


def _addresses(value: object) -> tuple[Any, ...]:
    items = _collection(value, "addresses")
    seen: set[object] = set()
    for address in items:
        _check_address(address, seen, "addresses")
    return tuple(items)


@attrs.frozen
class _EndpointsUpdate(Generic[Addr, T]):
    """An update that carries ``(address, target)`` pairs."""

    endpoints: tuple[tuple[Addr, T], ...] = attrs.field(converter=_endpoint_pairs)

    def __len__(self) -> int:
        return len(self.endpoints)


@attrs.frozen
class Reset(_EndpointsUpdate[Addr, T]):
    """The complete set of endpoints, as ``(address, target)`` pairs.

    ``endpoints`` is an iterable of pairs, or a mapping from each address to its target
    (``Reset(pool.members())``).

    A pool keeps the state of every endpoint whose ``(address, target)`` is unchanged (no
    reconnect, its load estimate kept), rebuilds an endpoint whose target changed, and
    removes every address that is absent. ``Reset([])`` empties the pool.

    Raises:
        TypeError: ``endpoints`` is not a collection of pairs, or an address is unhashable.
        ValueError: the same address appears twice.
    """


@attrs.frozen
class Add(_EndpointsUpdate[Addr, T]):
    """Add each ``(address, target)``, or update the target of an address already present.

    ``endpoints`` is an iterable of pairs, or a mapping from each address to its target.

    Raises:
        TypeError: ``endpoints`` is not a collection of pairs, or an address is unhashable.
        ValueError: the same address appears twice.
    """


@attrs.frozen
class Remove(Generic[Addr]):
    """Remove each address; addresses the pool does not hold are ignored.

    ``addresses`` is an iterable of addresses (a mapping gives its keys).

    Raises:
        TypeError: ``addresses`` is not a collection, or an address is unhashable.
        ValueError: the same address appears twice.
    """

    addresses: tuple[Addr, ...] = attrs.field(converter=_addresses)

    def __len__(self) -> int:
        return len(self.addresses)


@attrs.frozen
class DoesNotExist:
    """The discovered name does not exist (any more): same effect as ``Reset([])``."""


Update: TypeAlias = Reset[Any, Any] | Add[Any, Any] | Remove[Any] | DoesNotExist
"""Any discovery update."""
