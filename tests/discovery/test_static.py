"""`StaticDiscovery`: one Reset, then the end of the stream."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from trio_pool import P2CPool, Reset, open_pool_queue
from trio_pool.discovery import Meta, StaticDiscovery

from ..support.discovery import new_metrics, updates_counted
from ..support.fake_endpoints import Factory


async def test_one_reset_then_the_end() -> None:
    endpoints = [(("10.0.0.1", 80), Meta(zone="a")), (("10.0.0.2", 80), None)]
    source = StaticDiscovery(endpoints)
    updates = [update async for update in source]
    assert updates == [Reset(endpoints)]
    again = [update async for update in source]
    assert again == updates, "each iteration starts over"


async def test_from_addresses_gives_every_address_one_target() -> None:
    source = StaticDiscovery.from_addresses([("10.0.0.1", 80), ("10.0.0.2", 81)])
    assert source.endpoints == ((("10.0.0.1", 80), Meta()), (("10.0.0.2", 81), Meta()))
    tagged = StaticDiscovery.from_addresses([("h", 1)], target="t")
    assert [u async for u in tagged] == [Reset([(("h", 1), "t")])]


def test_malformed_endpoints_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="duplicate address"):
        StaticDiscovery([(("h", 1), None), (("h", 1), None)])
    with pytest.raises(TypeError, match=r"\(address, target\) pair"):
        StaticDiscovery([("h", 1, 2)])
    with pytest.raises(TypeError, match="not a bare str"):
        StaticDiscovery.from_addresses("10.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"DiscoveryMetricFamilies\.labels"):
        StaticDiscovery([], metrics="yes")  # type: ignore[arg-type]


async def test_the_reset_is_counted() -> None:
    registry, metrics = new_metrics()
    async for _ in StaticDiscovery([(("h", 1), None)], metrics=metrics):
        pass
    assert updates_counted(registry, "static", "reset") == 1
    assert registry.get_sample_value("trio_pool_discovery_endpoints", {"source": "static"}) == 1


async def test_the_pool_keeps_static_endpoints_after_the_stream_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    factory = Factory()
    pool: P2CPool[Any, Any, Any, Any] = P2CPool(factory)
    source = StaticDiscovery.from_addresses([("10.0.0.1", 80), ("10.0.0.2", 80)])
    async with open_pool_queue(pool, source) as queue:
        await trio.sleep(10)
        address, request = await queue.call("ping")
        assert request == "ping"
        assert address in {("10.0.0.1", 80), ("10.0.0.2", 80)}
        assert set(pool.members()) == {("10.0.0.1", 80), ("10.0.0.2", 80)}
