"""`LoadOrder`: entries by key, the lowest found at once, ties drawn at random.

Entries of equal key share one bucket; the buckets sit in an `IndexedHeap` by key. The
lowest bucket is the heap's top, and an entry drawn uniformly from it is a lowest entry,
ties broken at random on every draw: fair (each tied entry is as likely as the others,
every time) and independent from one client to the next, so clients given the same
update do not all start on the same endpoint.

Buckets make ties cheap, and ties are common: new endpoints share their load, and
pending-request loads take few values. An entry whose key changes leaves its bucket
and joins another in O(1) when there are several; when it is alone in its bucket and
no bucket has its new key (distinct keys, the common case under Peak-EWMA), the bucket
itself moves in the heap, in O(log n). A heap of single entries with a tie-break would
instead sift a tied entry past every entry it ties with, on each call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from ._heap import IndexedHeap

__all__ = ["LoadOrder", "OrderEntry"]


class _Bucket:
    """The entries of one key, in no order."""

    __slots__ = ("entries", "index", "key")

    def __init__(self, key: float) -> None:
        self.key = key
        self.index = -1
        self.entries: list[OrderEntry] = []


class OrderEntry(Protocol):
    """What a `LoadOrder` holds: its ``bucket`` and ``slot`` in it are the order's."""

    bucket: _Bucket | None
    slot: int


T = TypeVar("T", bound=OrderEntry)

# Random draws from a bucket before `lowest_where` looks at each of its entries.
_DRAWS = 3


class LoadOrder(Generic[T]):
    """Entries by key (lower first); each entry is in at most one order at a time.

    A key that is not a number (NaN) counts as infinite: the entry comes last.
    """

    __slots__ = ("_buckets", "_heap", "_size")

    def __init__(self) -> None:
        self._heap: IndexedHeap[_Bucket] = IndexedHeap()
        self._buckets: dict[float, _Bucket] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[T]:
        for bucket in self._heap:
            yield from bucket.entries  # type: ignore[misc]

    @property
    def lowest_key(self) -> float:
        """The lowest key; ``IndexError`` if empty."""
        return self._heap.top.key

    @property
    def lowest_count(self) -> int:
        """How many entries have the lowest key (0 if empty)."""
        return len(self._heap.top.entries) if self._size else 0

    def lowest(self, random: Callable[[], float]) -> T:
        """An entry of the lowest key, uniformly at random among them."""
        entries = self._heap.top.entries
        if len(entries) == 1:
            return entries[0]  # type: ignore[return-value]
        return entries[int(random() * len(entries))]  # type: ignore[return-value]

    def lowest_where(self, accept: Callable[[T], bool], random: Callable[[], float]) -> T | None:
        """An entry of the lowest key among those ``accept`` takes, uniformly at random
        among them; ``None`` if it takes none.

        Made for a few refusals (the endpoints a retry already tried): buckets are
        visited from the lowest up and stop at the first with an entry taken, and in a
        bucket a few random draws come before a look at every entry.
        """
        for bucket in self._heap.ascending():
            entries: list[T] = bucket.entries  # type: ignore[assignment]
            if len(entries) == 1:  # distinct keys, the common case under Peak-EWMA
                if accept(entries[0]):
                    return entries[0]
                continue
            for _ in range(_DRAWS):
                entry = entries[int(random() * len(entries))]
                if accept(entry):
                    return entry  # uniform over those taken: refused draws are redrawn
            taken = [entry for entry in entries if accept(entry)]
            if taken:
                return taken[int(random() * len(taken))]
        return None

    def add(self, entry: T, key: float) -> None:
        if key != key:  # noqa: PLR0124 (NaN: a key not equal to itself)
            key = math.inf
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(key)
            self._heap.push(bucket)
        entry.bucket = bucket
        entry.slot = len(bucket.entries)
        bucket.entries.append(entry)
        self._size += 1

    def remove(self, entry: T) -> None:
        """Take ``entry``, which must be in this order, out of it."""
        bucket = entry.bucket
        assert bucket is not None, "the entry is in this order"
        entry.bucket = None
        entries = bucket.entries
        last = entries.pop()
        if last is not entry:
            entries[entry.slot] = last
            last.slot = entry.slot
        elif not entries:
            del self._buckets[bucket.key]
            self._heap.remove(bucket)
        self._size -= 1

    def rekey(self, entry: T, key: float) -> None:
        """``entry``'s key is now ``key``."""
        # On every call's start and end: remove() and add() are written out here, and
        # the bucket is not cast (a call at run time).
        bucket: _Bucket = entry.bucket  # type: ignore[assignment]
        if key != key:  # noqa: PLR0124 (NaN: a key not equal to itself)
            key = math.inf
        if bucket.key == key:
            return
        buckets = self._buckets
        entries = bucket.entries
        target = buckets.get(key)
        if target is None:
            if len(entries) == 1:
                # Alone in its bucket, to a key no other entry has: the bucket moves.
                del buckets[bucket.key]
                bucket.key = key
                buckets[key] = bucket
                self._heap.restore(bucket)
                return
            target = buckets[key] = _Bucket(key)
            self._heap.push(target)
        last = entries.pop()
        if last is not entry:
            entries[entry.slot] = last
            last.slot = entry.slot
        elif not entries:
            del buckets[bucket.key]
            self._heap.remove(bucket)
        entry.bucket = target
        entry.slot = len(target.entries)
        target.entries.append(entry)
