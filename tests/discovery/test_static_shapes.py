"""`StaticDiscovery` reads one shape, ``((host, port), target)``, and refuses others."""

from __future__ import annotations

from typing import Any

import pytest

from trio_pool import Reset
from trio_pool.discovery import Meta, StaticDiscovery


def test_a_bare_address_is_refused_with_a_pointer_to_from_addresses() -> None:
    # Read as a pair, this is address "10.0.0.1" with target 8080: never what was meant.
    with pytest.raises(TypeError, match=r"address without a target.*from_addresses") as raised:
        StaticDiscovery([("10.0.0.1", 8080)])
    assert "('10.0.0.1', 8080)" in str(raised.value)
    with pytest.raises(TypeError, match="address without a target"):
        StaticDiscovery([(("10.0.0.2", 80), None), ("10.0.0.1", 8080)])


def test_two_bare_addresses_are_not_mistaken_for_duplicates() -> None:
    # Both would be address "10.0.0.1": the error names the real mistake instead.
    with pytest.raises(TypeError, match="address without a target"):
        StaticDiscovery([("10.0.0.1", 8080), ("10.0.0.1", 8081)])


@pytest.mark.parametrize(
    ("address", "error", "message"),
    [
        ("10.0.0.1:8080", TypeError, r"must be a \(host, port\) tuple"),
        (["10.0.0.1", 8080], TypeError, r"must be a \(host, port\) tuple"),
        (("10.0.0.1", 8080, 0), TypeError, r"must be a \(host, port\) tuple"),
        ((b"10.0.0.1", 8080), TypeError, "host .* must be a str"),
        (("10.0.0.1", "8080"), TypeError, "port .* must be an int"),
        (("10.0.0.1", True), TypeError, "port .* must be an int"),
        (("10.0.0.1", 0), ValueError, "from 1 to 65535"),
        (("10.0.0.1", 65536), ValueError, "from 1 to 65535"),
        (("", 80), ValueError, "1 to 255 characters"),
        (("a b", 80), ValueError, "whitespace"),
    ],
)
def test_an_address_that_is_not_host_and_port_is_refused(
    address: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        StaticDiscovery([(address, None)])
    with pytest.raises(error, match=message):
        StaticDiscovery.from_addresses([address])


async def test_the_documented_shapes_work() -> None:
    pairs = [(("10.0.0.1", 8080), Meta(zone="a")), (("::1", 8080), None)]
    assert [u async for u in StaticDiscovery(pairs)] == [Reset(pairs)]
    assert [u async for u in StaticDiscovery(iter(pairs))] == [Reset(pairs)], "any iterable"
    bare = StaticDiscovery.from_addresses([("10.0.0.1", 8080), ("users.internal", 80)])
    assert bare.endpoints == (
        (("10.0.0.1", 8080), Meta()),
        (("users.internal", 80), Meta()),
    )


def test_other_mistakes_keep_their_messages() -> None:
    with pytest.raises(TypeError, match="not a bare str"):
        StaticDiscovery("10.0.0.1:8080")
    with pytest.raises(TypeError, match="not a bare str"):
        StaticDiscovery.from_addresses("10.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicate address"):
        StaticDiscovery([(("h", 1), None), (("h", 1), "other")])
