"""The indexed heap: any sequence of pushes, removals and moves keeps it in order."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_pool._pool._heap import IndexedHeap


@attrs.define(eq=False)
class Entry:
    key: float
    index: int = -1


def assert_ordered(heap: IndexedHeap[Entry], entries: set[Entry]) -> None:
    held = list(heap)
    assert set(held) == entries, "the heap holds exactly the entries pushed and not removed"
    for index, entry in enumerate(held):
        assert entry.index == index, "every entry knows its place"
        if index:
            parent = held[(index - 1) // 4]
            assert parent.key <= entry.key, "no child below its parent"
    if entries:
        assert heap.top.key == min(e.key for e in entries)


# Few distinct keys, so that equal keys are common.
keys = st.sampled_from([0.0, 1.0, 1.5, 2.0, -3.0, float("-inf")]) | st.floats(-10, 10)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("push"), keys),
        st.tuples(st.just("remove"), st.integers(0, 1000)),
        st.tuples(st.just("move"), st.integers(0, 1000), keys),
    ),
    max_size=200,
)


@given(operations)
def test_any_sequence_of_changes_keeps_the_heap_in_order(ops: list[tuple[object, ...]]) -> None:
    heap: IndexedHeap[Entry] = IndexedHeap()
    entries: set[Entry] = set()
    for op in ops:
        if op[0] == "push":
            entry = Entry(op[1])  # type: ignore[arg-type]
            heap.push(entry)
            entries.add(entry)
        elif entries:
            chosen = sorted(entries, key=id)[op[1] % len(entries)]  # type: ignore[operator]
            if op[0] == "remove":
                heap.remove(chosen)
                entries.discard(chosen)
                assert chosen.index == -1, "a removed entry has no place"
            else:
                chosen.key = op[2]  # type: ignore[assignment]
                heap.restore(chosen)
        assert_ordered(heap, entries)
    assert len(heap) == len(entries)
    ascending = [entry.key for entry in heap.ascending()]
    assert ascending == sorted(entry.key for entry in entries), "lowest first, every one"


def test_an_empty_heap_has_no_top() -> None:
    with pytest.raises(IndexError):
        _ = IndexedHeap[Entry]().top


def test_popping_the_top_in_turn_sorts_the_entries() -> None:
    heap: IndexedHeap[Entry] = IndexedHeap()
    entries = [Entry(float(k * 37 % 101)) for k in range(100)]
    for entry in entries:
        heap.push(entry)
    taken = []
    while heap:
        taken.append(heap.top.key)
        heap.remove(heap.top)
    assert taken == sorted(e.key for e in entries)
