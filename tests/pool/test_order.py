"""LoadOrder: entries by key; the lowest drawn uniformly among equals."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_pool._pool._order import LoadOrder


@attrs.define(eq=False)
class Entry:
    key: float = 0.0
    bucket: Any = None
    slot: int = 0


def assert_ordered(order: LoadOrder[Entry], entries: set[Entry]) -> None:
    assert set(order) == entries, "the order holds exactly the entries added and not removed"
    assert len(order) == len(entries)
    if not entries:
        assert order.lowest_count == 0
        return
    lowest = min(e.key for e in entries)
    assert order.lowest_key == lowest
    tied = {e for e in entries if e.key == lowest}
    assert order.lowest_count == len(tied)
    rng = random.Random(0)
    assert {order.lowest(rng.random) for _ in range(8 * len(tied))} <= tied
    # Leaving some out (a retry's tried endpoints): the lowest of the rest.
    refused = set(sorted(entries, key=id)[::2])
    taken = order.lowest_where(lambda entry: entry not in refused, rng.random)
    rest = entries - refused
    if not rest:
        assert taken is None
    else:
        assert taken in rest
        assert taken.key == min(e.key for e in rest)


keys = st.sampled_from([0.0, 1.0, 2.0, -math.inf, math.inf]) | st.floats(-5, 5)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), keys),
        st.tuples(st.just("remove"), st.integers(0, 1000)),
        st.tuples(st.just("rekey"), st.integers(0, 1000), keys),
    ),
    max_size=150,
)


@given(operations)
def test_any_sequence_of_changes_keeps_the_order(ops: list[tuple[Any, ...]]) -> None:
    order: LoadOrder[Entry] = LoadOrder()
    entries: set[Entry] = set()
    for op in ops:
        if op[0] == "add":
            entry = Entry(op[1])
            order.add(entry, entry.key)
            entries.add(entry)
        elif entries:
            chosen = sorted(entries, key=id)[op[1] % len(entries)]
            if op[0] == "remove":
                order.remove(chosen)
                entries.discard(chosen)
            else:
                chosen.key = op[2]
                order.rekey(chosen, chosen.key)
        assert_ordered(order, entries)


def test_a_key_that_is_not_a_number_comes_last() -> None:
    order: LoadOrder[Entry] = LoadOrder()
    odd, fine = Entry(), Entry()
    order.add(odd, math.nan)
    order.add(fine, 1e300)
    assert order.lowest(random.random) is fine
    order.rekey(fine, math.nan)
    assert order.lowest_count == 2, "both count as infinite"


@pytest.mark.parametrize("tied", [2, 3, 10])
def test_ties_are_drawn_uniformly(tied: int) -> None:
    order: LoadOrder[Entry] = LoadOrder()
    entries = [Entry(1.0) for _ in range(tied)]
    for entry in entries:
        order.add(entry, 1.0)
    order.add(Entry(2.0), 2.0)
    rng = random.Random(3)
    draws = Counter(id(order.lowest(rng.random)) for _ in range(1000 * tied))
    assert set(draws) == {id(e) for e in entries}
    assert all(880 <= n <= 1120 for n in draws.values()), draws


def test_lowest_where_finds_the_one_taken_however_the_draws_fall() -> None:
    # Draws that always land on refused entries: the bucket is then looked through.
    order: LoadOrder[Entry] = LoadOrder()
    entries = [Entry(1.0) for _ in range(5)]
    for entry in entries:
        order.add(entry, 1.0)
    higher = Entry(2.0)
    order.add(higher, 2.0)
    refused = {id(e) for e in entries[:4]}

    def first() -> float:
        return 0.0  # the first entry of a bucket, which is refused

    taken = order.lowest_where(lambda entry: id(entry) not in refused, first)
    assert taken is entries[4]
    assert order.lowest_where(lambda entry: entry is higher, first) is higher
    assert order.lowest_where(lambda entry: False, first) is None


def test_lowest_where_is_uniform_over_the_entries_taken() -> None:
    order: LoadOrder[Entry] = LoadOrder()
    entries = [Entry(1.0) for _ in range(6)]
    for entry in entries:
        order.add(entry, 1.0)
    refused = {id(e) for e in entries[:3]}
    rng = random.Random(5)
    draws = Counter(
        id(order.lowest_where(lambda entry: id(entry) not in refused, rng.random))
        for _ in range(3000)
    )
    assert set(draws) == {id(e) for e in entries[3:]}
    assert all(880 <= n <= 1120 for n in draws.values()), draws
