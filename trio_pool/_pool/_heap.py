"""`IndexedHeap`: a min-heap whose entries know their place, so any entry can move.

`heapq` keeps a list in heap order but cannot find an entry whose key changed: a pool
whose endpoints' loads change on every call would have to push a copy each time and
skip stale ones, which leaves the heap holding garbage that a periodic rebuild must
clear, one long stall at a time. Here each entry carries its index, so a changed key
is restored in place in O(log n), and removing any entry costs the same.

The heap is 4-ary (a node's children are ``4i+1 .. 4i+4``): half the levels of a
binary heap, so a key that drops (a call ended) climbs in half the steps, while one
that rises (a call started) compares four children per level over half the levels, the
same comparisons as a binary heap with half the moves.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

__all__ = ["HeapEntry", "IndexedHeap"]


class HeapEntry(Protocol):
    """What the heap orders, lowest ``key`` first; ``index`` is the heap's to set."""

    key: float
    index: int


E = TypeVar("E", bound=HeapEntry)


class IndexedHeap(Generic[E]):
    """A 4-ary min-heap of entries by ``key``; each entry's ``index`` is its place
    while it is in the heap (an entry is in at most one heap at a time)."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: list[E] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[E]:
        """The entries in heap order (the lowest first, the rest in no useful order)."""
        return iter(self._entries)

    def ascending(self) -> Iterator[E]:
        """The entries from the lowest key up, each found as it is asked for: the
        first ``k`` cost O(k log k), whatever the heap's size. The heap must not change
        while this is iterated."""
        entries = self._entries
        if not entries:
            return
        # Best first: the next lowest is always the root or a child of one yielded.
        frontier = [(entries[0].key, 0)]
        while frontier:
            _, index = heapq.heappop(frontier)
            yield entries[index]
            first = 4 * index + 1
            for child in range(first, min(first + 4, len(entries))):
                heapq.heappush(frontier, (entries[child].key, child))

    @property
    def top(self) -> E:
        """The entry with the lowest key; ``IndexError`` if empty."""
        return self._entries[0]

    def push(self, entry: E) -> None:
        entries = self._entries
        entries.append(entry)
        self._up(entry, len(entries) - 1)

    def remove(self, entry: E) -> None:
        """Take ``entry``, which must be in this heap, out of it."""
        entries = self._entries
        last = entries.pop()
        index, entry.index = entry.index, -1
        if last is not entry:
            self.restore(last, index)

    def restore(self, entry: E, index: int = -1) -> None:
        """Restore the order after ``entry``'s key changed (``index``: the place to
        put it at, its own by default)."""
        if index < 0:
            index = entry.index
        if index and entry.key < self._entries[(index - 1) >> 2].key:
            self._up(entry, index)
        else:
            self._down(entry, index)

    # The loops below run on every call of a least-loaded pool: the comparisons are
    # written out, with the moving entry's key held in a local.

    def _up(self, entry: E, index: int) -> None:
        entries = self._entries
        key = entry.key
        while index:
            parent_index = (index - 1) >> 2
            parent = entries[parent_index]
            if parent.key <= key:
                break
            entries[index] = parent
            parent.index = index
            index = parent_index
        entries[index] = entry
        entry.index = index

    def _down(self, entry: E, index: int) -> None:
        entries = self._entries
        size = len(entries)
        key = entry.key
        while True:
            first = 4 * index + 1
            if first >= size:
                break
            # The lowest of up to four children.
            best = entries[first]
            best_index = first
            last = first + 4 if first + 4 <= size else size
            for child_index in range(first + 1, last):
                child = entries[child_index]
                if child.key < best.key:
                    best, best_index = child, child_index
            if key <= best.key:
                break
            entries[index] = best
            best.index = index
            index = best_index
        entries[index] = entry
        entry.index = index
