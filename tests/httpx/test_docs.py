"""The httpx page's examples: the complete one runs against loopback backends."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio
import trio.testing
from prometheus_client import CollectorRegistry

from ..support.http_servers import Backend, open_backends
from ._flavour import TransportMetricFamilies, httpx, open_balanced_transport
from ._helpers import Resolver

PAGE = Path(__file__).parents[2] / "docs" / "httpx.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def test_every_example_compiles() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 2, "the page shows a static and a DNS example"
    for block in blocks:
        compile(block, str(PAGE), "exec")


async def test_the_complete_example_runs() -> None:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(python_blocks()[0], str(PAGE), "exec"), namespace)
    async with open_backends(Backend("a"), Backend("b")) as backends:
        names = await namespace["fetch_users"]([b.address for b in backends])
    assert len(names) == 10
    assert set(names) <= {"a", "b"}
    assert {seen.host for b in backends for seen in b.seen} == {"users.internal"}


async def test_the_retry_example_runs(autojump_clock: trio.testing.MockClock) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    example = next(block for block in python_blocks() if "async def fetch_report" in block)
    exec(compile(example, str(PAGE), "exec"), namespace)
    busy, good = Backend("busy", status=503), Backend("good")
    async with open_backends(busy, good):
        for _ in range(5):
            report, status = await namespace["fetch_report"]([busy.address, good.address])
            assert report == "good", "the GET's 503 was retried on the other endpoint"
            assert status in (200, 503), "the POST was sent once, to whichever was picked"
    # Each run: the GET, one retry if it went to busy first, and the POST, sent once.
    assert busy.requests + good.requests <= 5 * 3
    assert good.requests >= 5


METRICS_PAGE = Path(__file__).parents[2] / "docs" / "metrics.md"


async def test_the_metrics_page_serves_a_transports_registry_from_trio() -> None:
    blocks = re.findall(r"```python\n(.*?)```", METRICS_PAGE.read_text(), flags=re.DOTALL)
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    serving = next(block for block in blocks if "async def serve_metrics" in block)
    exec(compile(serving, str(METRICS_PAGE), "exec"), namespace)
    registry = CollectorRegistry()
    async with open_backends(Backend("a")) as (a,), trio.open_nursery() as nursery:
        (bind,) = await nursery.start(namespace["serve_metrics"], registry, "127.0.0.1:0")
        async with (
            open_balanced_transport(
                Resolver({"api.test:80": [a.address]}),
                metrics=TransportMetricFamilies.register(registry),
            ) as transport,
            httpx.AsyncClient(transport=transport) as client,
        ):
            await client.get("http://api.test/")
            async with httpx.AsyncClient() as scraper:
                page = await scraper.get(f"{bind}/metrics")
        nursery.cancel_scope.cancel()
    assert page.status_code == 200
    assert 'trio_pool_queue_requests_total{authority="api.test:80"} 1.0' in page.text
    assert f'endpoint="127.0.0.1:{a.port}"' in page.text
