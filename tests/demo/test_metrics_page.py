"""The demo's /metrics page shows the library's series of both balancers while it runs."""

from __future__ import annotations

import socket

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from trio_pool._demo import DemoConfig, run_demo


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_the_metrics_page_shows_the_trio_pool_series_of_both_balancers() -> None:
    port = free_port()
    config = DemoConfig(duration=2.0, rate=60.0, metrics_port=port, live=False)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_demo, config, Console(quiet=True))
        await trio.sleep(1.0)
        async with httpx.AsyncClient() as client:
            page = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert page.status_code == 200
    samples = [
        sample
        for family in text_string_to_metric_families(page.text)
        for sample in family.samples
        if sample.name.startswith("trio_pool_")
    ]
    for balancer in ("p2c+ewma", "least loaded", "round robin"):
        mine = [s for s in samples if s.labels.get("balancer") == balancer]
        names = {s.name for s in mine}
        assert {
            "trio_pool_queue_requests_total",
            "trio_pool_queue_latency_seconds_bucket",
            "trio_pool_endpoints",
            "trio_pool_endpoint_requests_total",
            "trio_pool_endpoint_latency_seconds_bucket",
            "trio_pool_endpoint_in_flight",
        } <= names, f"{balancer}: {sorted(names)}"
        assert {s.labels["authority"] for s in mine} == {"demo.local:80"}
        requests = [s for s in mine if s.name == "trio_pool_queue_requests_total"]
        assert requests[0].value > 0
        endpoints = {s.labels["endpoint"] for s in mine if "endpoint" in s.labels}
        assert len(endpoints) >= 5, "the backends discovery holds (one joins later)"
