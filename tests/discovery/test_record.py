"""The endpoint record shared by the file and etcd sources, and its parsers, fuzzed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_pool.discovery import Meta
from trio_pool.discovery._record import (
    BadRecord,
    InvalidDocument,
    parse_endpoint,
    parse_endpoint_json,
    parse_endpoint_list,
)

from ..support.discovery import expected_endpoints, is_valid, json_values, near_records


def test_a_record_is_an_address_and_a_meta() -> None:
    assert parse_endpoint({"host": "10.0.0.1", "port": 80}) == (("10.0.0.1", 80), Meta())
    assert parse_endpoint({"host": "::1", "port": 443, "meta": {"zone": "a"}, "x": 1}) == (
        ("::1", 443),
        Meta(zone="a"),
    )
    assert parse_endpoint({"host": "h", "port": 1, "meta": None}) == (("h", 1), Meta())


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([], "expected an object, got an array"),
        ({"port": 80}, 'missing "host"'),
        ({"host": "h"}, 'missing "port"'),
        ({"host": 1, "port": 80}, '"host" must be a string, got a number'),
        ({"host": "", "port": 80}, '"host" must have 1 to 255 characters'),
        ({"host": "a b", "port": 80}, "whitespace or control characters"),
        ({"host": "h", "port": "80"}, '"port" must be an integer, got a string'),
        ({"host": "h", "port": True}, '"port" must be an integer, got a boolean'),
        ({"host": "h", "port": 80.0}, '"port" must be an integer, got a number'),
        ({"host": "h", "port": 0}, '"port" must be from 1 to 65535, got 0'),
        ({"host": "h", "port": 80, "meta": [1]}, '"meta" must be an object, got an array'),
    ],
)
def test_bad_records_say_what_is_wrong(record: object, message: str) -> None:
    with pytest.raises(BadRecord, match=message):
        parse_endpoint(record)


def test_a_list_keeps_good_records_and_reports_bad_ones() -> None:
    bad: list[tuple[str, str]] = []
    document = [
        {"host": "a", "port": 1},
        {"host": "b"},
        {"host": "a", "port": 1, "meta": {"x": 1}},
        {"host": "c", "port": 2, "meta": {"x": 1}},
    ]
    endpoints = parse_endpoint_list(json.dumps(document).encode(), lambda *b: bad.append(b))
    assert endpoints == {("a", 1): Meta(), ("c", 2): Meta(x=1)}
    assert bad == [("[1]", 'missing "port"'), ("[2]", "duplicate of [0] for ('a', 1)")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b'{"host": "a", "port": 1}', "expected a JSON list of endpoints, got an object"),
        (b"[NaN]", "NaN is not valid JSON"),
        (b'[{"host": "a", "port": 1, "meta": {"w": Infinity}}]', "Infinity is not valid"),
        (b"[" * 100_000, "not valid JSON"),
        (b"9" * 10_000, "not valid JSON"),
    ],
)
def test_invalid_documents_are_refused_whole(data: bytes, message: str) -> None:
    with pytest.raises(InvalidDocument, match=message):
        parse_endpoint_list(data, lambda *_: None)


def test_meta_nested_too_deeply_is_a_bad_record() -> None:
    meta: Any = 1
    for _ in range(40):
        meta = {"m": meta}
    with pytest.raises(BadRecord, match="nests deeper"):
        parse_endpoint({"host": "h", "port": 1, "meta": meta})


@given(st.binary() | json_values.map(lambda v: json.dumps(v).encode()))
def test_the_list_parser_never_fails_otherwise(data: bytes) -> None:
    bad: list[tuple[str, str]] = []
    try:
        endpoints = parse_endpoint_list(data, lambda *b: bad.append(b))
    except InvalidDocument:
        return
    assert all(isinstance(meta, Meta) for meta in endpoints.values())
    hash(tuple(endpoints.items()))  # addresses and targets are hashable


@given(st.lists(near_records | json_values, max_size=8))
def test_the_list_parser_keeps_exactly_the_first_valid_record_per_address(
    records: list[Any],
) -> None:
    bad: list[tuple[str, str]] = []
    endpoints = parse_endpoint_list(json.dumps(records).encode(), lambda *b: bad.append(b))
    expected = expected_endpoints(records)
    assert endpoints == expected
    assert len(bad) == len(records) - len(expected), "every skipped record is reported"


@given(st.binary() | near_records.map(lambda v: json.dumps(v).encode()))
def test_the_value_decoder_raises_only_bad_record(data: bytes) -> None:
    try:
        address, meta = parse_endpoint_json(data)
    except BadRecord:
        return
    record = json.loads(data)
    assert is_valid(record)
    assert address == (record["host"], record["port"])
    assert meta == (record.get("meta") or {})
