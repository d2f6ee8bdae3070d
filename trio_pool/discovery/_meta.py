"""`Meta`: the target of an endpoint found by a built-in discovery source.

A pool compares targets to decide whether an endpoint changed (an unchanged
``(address, target)`` keeps its state, a changed target rebuilds the endpoint), and a
discovery source diffs them to yield only what changed. A target must therefore compare
by value and be hashable, which a plain ``dict`` parsed from JSON is not. `Meta` is a
read-only mapping with both properties, so an endpoint factory can still read it like the
JSON object it came from: ``target["zone"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

__all__ = ["MAX_META_DEPTH", "Meta"]

MAX_META_DEPTH = 32
"""How deeply `Meta` values may nest; deeper input is refused with ``ValueError``.

Equality and hashing recurse through the value, so an unbounded depth would let one
record in a discovery source crash whoever compares it.
"""


def _freeze(value: object, depth: int) -> object:
    if depth > MAX_META_DEPTH:
        raise ValueError(f"meta nests deeper than {MAX_META_DEPTH} levels")
    if isinstance(value, Meta):
        return value
    if isinstance(value, Mapping):
        return Meta._from_mapping(value, depth + 1)
    if isinstance(value, list | tuple):
        return tuple(_freeze(item, depth + 1) for item in value)
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"meta values must be hashable or JSON-like, got {type(value).__name__}"
        ) from None
    return value


def _thaw(value: object) -> object:
    if isinstance(value, Meta):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


class Meta(Mapping[str, Any]):
    """A frozen, hashable mapping from ``str`` to JSON-like values: an endpoint's target.

    Built-in discovery sources turn an entry's ``"meta"`` object into a `Meta` (nested
    objects become `Meta`, arrays become tuples) and use ``Meta()`` when an entry has none.
    Two `Meta` are equal when their items are, whatever the order of the keys, and a
    `Meta` also equals a plain ``dict`` with the same items (lists and tuples alike):

    ```python
    Meta({"zone": "a", "weight": 2}) == {"weight": 2, "zone": "a"}   # True
    ```

    As in Python, ``1 == 1.0 == True``: a JSON value changing between these does not
    change the target.

    Raises:
        TypeError: a key is not a ``str``, or a value is neither JSON-like nor hashable.
        ValueError: values nest deeper than `MAX_META_DEPTH` levels.
    """

    __slots__ = ("_hash", "_items")

    _items: dict[str, Any]
    _hash: int | None

    def __init__(
        self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /, **kwargs: Any
    ) -> None:
        self._init(dict(items, **kwargs), 0)

    @classmethod
    def _from_mapping(cls, items: Mapping[Any, Any], depth: int) -> Meta:
        meta = cls.__new__(cls)
        meta._init(items, depth)
        return meta

    def _init(self, items: Mapping[Any, Any], depth: int) -> None:
        for key in items:
            if not isinstance(key, str):
                raise TypeError(f"meta keys must be str, got {key!r}")
        frozen = {key: _freeze(items[key], depth) for key in sorted(items)}
        object.__setattr__(self, "_items", frozen)
        object.__setattr__(self, "_hash", None)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Meta is read-only; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Meta is read-only; cannot delete {name!r}")

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Meta):
            return self._items == other._items
        if isinstance(other, Mapping):
            # Compare frozen to frozen, so that a list in ``other`` equals our tuple.
            try:
                other = Meta._from_mapping(other, 0)
            except (TypeError, ValueError):
                return False
            return self._items == other._items
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            # The items are sorted by key, so equal Metas hash alike.
            object.__setattr__(self, "_hash", hash(tuple(self._items.items())))
        assert self._hash is not None
        return self._hash

    def __repr__(self) -> str:
        return f"Meta({self._items!r})"

    def __reduce__(self) -> tuple[type[Meta], tuple[dict[str, Any]]]:
        return (Meta, (self._items,))

    def to_dict(self) -> dict[str, Any]:
        """A plain, mutable copy: nested `Meta` become dicts, tuples become lists (JSON)."""
        return {key: _thaw(value) for key, value in self._items.items()}
