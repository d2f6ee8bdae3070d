"""Discovery updates are validated when they are built."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_pool import Add, DoesNotExist, Remove, Reset


def test_updates_hold_their_endpoints_as_tuples() -> None:
    reset: Reset[Any, Any] = Reset([(("10.0.0.1", 80), {"zone": "a"}), [("10.0.0.2", 80), None]])
    assert reset.endpoints == ((("10.0.0.1", 80), {"zone": "a"}), (("10.0.0.2", 80), None))
    assert Add(iter([("a", 1)])).endpoints == (("a", 1),)
    assert Remove({"a"}).addresses == ("a",)
    assert Reset([]) == Reset(())
    assert DoesNotExist() == DoesNotExist()
    assert len(Reset([("a", 1), ("b", 2)])) == 2


@pytest.mark.parametrize("kind", [Reset, Add])
def test_duplicate_addresses_are_rejected(kind: Any) -> None:
    with pytest.raises(ValueError, match="duplicate address 'a'"):
        kind([("a", 1), ("b", 2), ("a", 3)])


def test_duplicate_removals_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate address 'a'"):
        Remove(["a", "a"])


@pytest.mark.parametrize("kind", [Reset, Add])
def test_unhashable_addresses_are_rejected(kind: Any) -> None:
    with pytest.raises(TypeError, match=r"address \['h', 1\] is unhashable \(list\)"):
        kind([(["h", 1], None)])
    with pytest.raises(TypeError, match="is unhashable"):
        Remove([{"h": 1}])


@pytest.mark.parametrize("value", ["10.0.0.1", b"10.0.0.1"])
def test_a_bare_string_is_not_a_collection(value: Any) -> None:
    with pytest.raises(TypeError, match="must be a collection, not a bare"):
        Reset(value)
    with pytest.raises(TypeError, match="must be a collection, not a bare"):
        Remove(value)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("ab", "must be an \\(address, target\\) pair, got 'ab'"),
        (("a",), "got 1 elements"),
        (("a", 1, 2), "got 3 elements"),
        (7, "must be an \\(address, target\\) pair, got 7"),
    ],
)
def test_items_must_be_pairs(item: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Add([item])


def test_non_iterables_are_rejected() -> None:
    with pytest.raises(TypeError, match="endpoints must be iterable, got int"):
        Reset(3)
    with pytest.raises(TypeError, match="addresses must be iterable, got NoneType"):
        Remove(None)


def test_updates_are_frozen() -> None:
    reset: Reset[str, int] = Reset([("a", 1)])
    with pytest.raises(AttributeError):
        reset.endpoints = ()  # type: ignore[misc]


@given(st.lists(st.tuples(st.integers(0, 20), st.integers())))
def test_reset_accepts_exactly_the_lists_without_duplicate_addresses(
    pairs: list[tuple[int, int]],
) -> None:
    addresses = [a for a, _ in pairs]
    if len(set(addresses)) == len(addresses):
        assert Reset(pairs).endpoints == tuple(pairs)
    else:
        with pytest.raises(ValueError, match="duplicate address"):
            Reset(pairs)


@pytest.mark.parametrize("kind", [Reset, Add])
def test_a_mapping_is_read_as_address_to_target(kind: Any) -> None:
    # The shape pool.members() returns: each key an address, each value its target, so
    # a (host, port) key is one address, never split into an address and a target.
    members = {("10.0.0.1", 80): "zone-a", ("10.0.0.2", 80): None}
    update = kind(members)
    assert update.endpoints == ((("10.0.0.1", 80), "zone-a"), (("10.0.0.2", 80), None))


def test_removing_a_mapping_removes_its_keys() -> None:
    assert Remove({("10.0.0.1", 80): "zone-a"}).addresses == (("10.0.0.1", 80),)


def test_a_mapping_with_unhashable_values_is_still_a_mapping() -> None:
    assert Reset({"a": ["list", "target"]}).endpoints == (("a", ["list", "target"]),)
