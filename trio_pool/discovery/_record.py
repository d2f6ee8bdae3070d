"""The endpoint record that `FileDiscovery` and `EtcdDiscovery` read: one JSON object.

```json
{"host": "10.0.0.1", "port": 8080, "meta": {"zone": "a"}}
```

- ``host``: a non-empty string without whitespace (a name, an IPv4 or a bare IPv6
  address, no brackets);
- ``port``: an integer from 1 to 65535 (``8080``, not ``"8080"`` nor ``8080.0``);
- ``meta``: optional, an object (or ``null``); it becomes the endpoint's target as a
  `Meta`, and ``Meta()`` when absent.

Other keys are ignored, so records can carry more than trio-pool reads. Documents are
strict JSON: ``NaN`` and ``Infinity``, which Python's ``json`` would otherwise accept,
are refused, because a target holding NaN never equals itself and would look changed
at every poll.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ._meta import Meta

__all__ = [
    "Address",
    "BadRecord",
    "InvalidDocument",
    "decode_json",
    "parse_endpoint",
    "parse_endpoint_json",
    "parse_endpoint_list",
]

Address = tuple[str, int]
"""The address of an endpoint found by a built-in source: ``(host, port)``."""

_MAX_HOST_LENGTH = 255


class InvalidDocument(ValueError):
    """A whole document is unusable: not JSON, or not the expected shape."""


class BadRecord(ValueError):
    """One record is unusable; the others in its document still count."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(data: bytes) -> Any:
    """Parse strict JSON from ``data`` (UTF-8, -16 or -32); raise `InvalidDocument`."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and integers too long to
        # convert; RecursionError, arrays nested thousands deep.
        raise InvalidDocument(f"not valid JSON: {_short(exc)}") from None


def parse_endpoint(value: object) -> tuple[Address, Meta]:
    """One record (a decoded JSON value) as ``((host, port), Meta)``; raise `BadRecord`."""
    if not isinstance(value, dict):
        raise BadRecord(f"expected an object, got {_json_type(value)}")
    if "host" not in value:
        raise BadRecord('missing "host"')
    host = value["host"]
    if not isinstance(host, str):
        raise BadRecord(f'"host" must be a string, got {_json_type(host)}')
    if not host or len(host) > _MAX_HOST_LENGTH:
        raise BadRecord(f'"host" must have 1 to {_MAX_HOST_LENGTH} characters')
    if any(c.isspace() or not c.isprintable() for c in host):
        raise BadRecord(f'"host" {host!r} contains whitespace or control characters')
    if "port" not in value:
        raise BadRecord('missing "port"')
    port = value["port"]
    if isinstance(port, bool) or not isinstance(port, int):
        raise BadRecord(f'"port" must be an integer, got {_json_type(port)}')
    if not 1 <= port <= 65535:
        raise BadRecord(f'"port" must be from 1 to 65535, got {port}')
    raw_meta = value.get("meta")
    if raw_meta is None:
        return (host, port), Meta()
    if not isinstance(raw_meta, dict):
        raise BadRecord(f'"meta" must be an object, got {_json_type(raw_meta)}')
    try:
        meta = Meta(raw_meta)
    except (TypeError, ValueError, RecursionError) as exc:
        raise BadRecord(f'"meta": {_short(exc)}') from None
    return (host, port), meta


def parse_endpoint_json(data: bytes) -> tuple[Address, Meta]:
    """One record from its JSON text (an etcd value, say); raise `BadRecord`."""
    try:
        value = decode_json(data)
    except InvalidDocument as exc:
        raise BadRecord(str(exc)) from None
    return parse_endpoint(value)


def parse_endpoint_list(
    data: bytes, on_bad_record: Callable[[str, str], None]
) -> dict[Address, Meta]:
    """A JSON list of records as ``{(host, port): Meta}``, in the list's order.

    A bad record, or one whose address an earlier record holds, is reported as
    ``on_bad_record(where, why)`` (``where`` is ``"[index]"``) and skipped. Raises
    `InvalidDocument` if ``data`` is not JSON or not a list.
    """
    document = decode_json(data)
    if not isinstance(document, list):
        raise InvalidDocument(f"expected a JSON list of endpoints, got {_json_type(document)}")
    endpoints: dict[Address, Meta] = {}
    first_index: dict[Address, int] = {}
    for index, value in enumerate(document):
        try:
            address, meta = parse_endpoint(value)
        except BadRecord as exc:
            on_bad_record(f"[{index}]", str(exc))
            continue
        if address in endpoints:
            on_bad_record(f"[{index}]", f"duplicate of [{first_index[address]}] for {address!r}")
            continue
        endpoints[address] = meta
        first_index[address] = index
    return endpoints


_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),  # before int: a bool is an int
    (int, "a number"),
    (float, "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
    (type(None), "null"),
)


def _json_type(value: object) -> str:
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
