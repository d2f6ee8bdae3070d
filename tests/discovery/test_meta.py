"""`Meta`: the frozen, hashable target of endpoints found by the built-in sources."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_pool.discovery import MAX_META_DEPTH, Meta

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=5), json_values, max_size=5)


def test_meta_reads_like_the_object_it_came_from() -> None:
    meta = Meta({"zone": "a", "tags": ["x", "y"], "limits": {"rps": 10}})
    assert meta["zone"] == "a"
    assert meta["tags"] == ("x", "y"), "arrays become tuples"
    assert isinstance(meta["limits"], Meta), "nested objects become Meta"
    assert meta["limits"]["rps"] == 10
    assert sorted(meta) == ["limits", "tags", "zone"]
    assert len(meta) == 3
    assert meta.to_dict() == {"zone": "a", "tags": ["x", "y"], "limits": {"rps": 10}}
    assert Meta(zone="a") == Meta([("zone", "a")]) == {"zone": "a"}
    assert repr(Meta(b=1, a=2)) == "Meta({'a': 2, 'b': 1})"


def test_meta_is_read_only() -> None:
    meta = Meta(zone="a")
    with pytest.raises(TypeError):
        meta["zone"] = "b"  # type: ignore[index]
    with pytest.raises(AttributeError, match="read-only"):
        meta._items = {}
    with pytest.raises(AttributeError, match="read-only"):
        del meta._items


def test_meta_refuses_what_it_cannot_freeze() -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        Meta({1: "a"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hashable or JSON-like"):
        Meta(a={1, 2})
    deep: Any = "leaf"
    for _ in range(MAX_META_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValueError, match="nests deeper"):
        Meta(a=deep)


@given(json_objects)
def test_equal_content_means_equal_meta_and_hash(items: dict[str, Any]) -> None:
    forward = Meta(items)
    backward = Meta(dict(reversed(list(items.items()))))
    assert forward == backward
    assert hash(forward) == hash(backward), "equal Metas hash alike, whatever the key order"
    assert forward == items, "a Meta equals the dict it was made from"
    assert Meta(forward.to_dict()) == forward, "to_dict round-trips"
    assert pickle.loads(pickle.dumps(forward)) == forward


def test_different_content_means_different_meta() -> None:
    assert Meta(zone="a") != Meta(zone="b")
    assert Meta(zone="a") != Meta(zone="a", weight=1)
    assert Meta() != "zone"
    assert {Meta(zone="a"), Meta(zone="a"), Meta()} == {Meta(zone="a"), Meta()}
