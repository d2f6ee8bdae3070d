"""The demo: local backends, churning discovery, the same load through two balancers."""

from __future__ import annotations

import errno
import json
import math
import random
from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import httpx
import trio
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from rich.console import Console
from rich.live import Live

from .. import LeastLoadedPool, P2CPool, PeakEwma, RoundRobinPool
from .._update import Add, Remove, Reset, Update
from ..httpx import NewEndpoint, TransportMetricFamilies, open_balanced_transport
from ._backends import Backend, BackendSpec, default_backends
from ._http import Reply, listening_port, open_http_listeners, serve_http
from ._traffic import BalancerStats, drive_load
from ._view import render, summary

__all__ = ["DemoConfig", "DemoError", "run_demo"]

AUTHORITY = "demo.local"
"""The logical name the load asks for; its balancers' key is ``demo.local:80``."""


@attrs.frozen
class DemoConfig:
    """The demo's options, as the command line sets them."""

    duration: float = 20.0
    rate: float = 200.0
    backends: int = 6
    seed: int = 1
    metrics_port: int = 9464
    json: bool = False
    live: bool = True


BALANCERS: dict[str, Callable[[NewEndpoint], Any]] = {
    "p2c+ewma": lambda new_endpoint: P2CPool(
        new_endpoint, load=PeakEwma(), metrics=new_endpoint.pool_metrics
    ),
    "least loaded": lambda new_endpoint: LeastLoadedPool(
        new_endpoint, load=PeakEwma(), metrics=new_endpoint.pool_metrics
    ),
    "round robin": lambda new_endpoint: RoundRobinPool(
        new_endpoint, metrics=new_endpoint.pool_metrics
    ),
}


async def _churn(
    channels: list[trio.MemorySendChannel[Update]],
    backends: list[Backend],
    members: set[str],
    duration: float,
) -> None:
    """Discovery that changes mid-run: the last backend joins at 1/3, the third leaves at 2/3."""

    def publish(update: Update) -> None:
        for channel in channels:
            channel.send_nowait(update)

    def address(backend: Backend) -> tuple[str, int]:
        return ("127.0.0.1", backend.port)

    first, joining, leaving = backends[:-1], backends[-1], backends[2]
    publish(Reset([(address(b), b.spec.name) for b in first]))
    members.update(b.spec.name for b in first)
    await trio.sleep(duration / 3)
    publish(Add([(address(joining), joining.spec.name)]))
    members.add(joining.spec.name)
    await trio.sleep(duration / 3)
    publish(Remove([address(leaving)]))
    members.discard(leaving.spec.name)


class DemoError(Exception):
    """The demo cannot run as configured; the message says what to change."""


async def _open_metrics_listeners(port: int) -> list[trio.SocketListener]:
    try:
        return await open_http_listeners(port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise DemoError(
                f"port {port} of the metrics page is in use (--metrics-port 0 picks a free one)"
            ) from None
        raise DemoError(f"cannot serve the metrics page on port {port}: {exc}") from exc


async def _cancel_when_set(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def run_demo(
    config: DemoConfig, console: Console, *, stop: trio.Event | None = None
) -> dict[str, Any]:
    """Run the demo; return its summary (what ``--json`` prints).

    Setting ``stop`` ends the load early (the command line sets it on Ctrl-C): the
    summary then covers what ran, and says so (``"interrupted": true``).

    Raises:
        DemoError: the metrics port is in use (or cannot be listened on).
    """
    if config.backends < 3:
        raise ValueError("the demo needs at least 3 backends")
    rng = random.Random(config.seed)
    specs: list[BackendSpec] = default_backends(config.backends)
    backends = [Backend(spec, random.Random(rng.random())) for spec in specs]
    registry = CollectorRegistry()
    requests = Counter(
        "demo_requests",
        "Demo requests by balancer and outcome",
        ["balancer", "outcome"],
        registry=registry,
    )
    latency = Histogram(
        "demo_latency_seconds", "Demo request latency", ["balancer"], registry=registry
    )
    # Both balancers serve the same authority: a label of their own keeps them apart.
    transport_metrics = TransportMetricFamilies.register(registry, labelnames=["balancer"])
    stats = [
        BalancerStats(name, requests_metric=requests, latency_metric=latency) for name in BALANCERS
    ]
    members: set[str] = set()

    async def metrics_page(method: str, target: str) -> Reply:
        if target.split("?", maxsplit=1)[0] != "/metrics":
            return Reply(404, b"try /metrics\n")
        return Reply(200, generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    # Bound before anything starts, so that a busy port is one clear error, not a
    # failure inside the nursery among the backends'.
    metrics_listeners = await _open_metrics_listeners(config.metrics_port)
    metrics_url = f"http://127.0.0.1:{listening_port(metrics_listeners)}/metrics"
    live_view = config.live and not config.json and console.is_terminal
    if not live_view and not config.json:
        console.print(
            f"trio-pool demo: {config.backends} backends, {config.rate:g} requests/s "
            f"through each balancer for {config.duration:g} s; metrics at {metrics_url} "
            "while it runs",
            soft_wrap=True,
        )
    try:
        async with trio.open_nursery() as nursery:
            for backend in backends:
                backend.port = await nursery.start(serve_http, backend.handle)
            await nursery.start(partial(serve_http, metrics_page, listeners=metrics_listeners))
            channels = [trio.open_memory_channel[Update](math.inf) for _ in BALANCERS]
            nursery.start_soon(
                _churn, [send for send, _ in channels], backends, members, config.duration
            )

            async def balance(index: int, name: str) -> None:
                discovery = channels[index][1]
                async with (
                    open_balanced_transport(
                        {f"{AUTHORITY}:80": discovery},
                        new_pool=BALANCERS[name],
                        metrics=transport_metrics.labels(balancer=name),
                    ) as transport,
                    httpx.AsyncClient(transport=transport, timeout=10.0) as client,
                ):
                    await drive_load(
                        client,
                        f"http://{AUTHORITY}/",
                        rate=config.rate,
                        duration=config.duration,
                        stats=stats[index],
                        rng=random.Random(rng.random()),
                    )

            start = trio.current_time()

            def view() -> Any:
                elapsed = min(trio.current_time() - start, config.duration)
                return render(
                    backends,
                    members=members,
                    balancers=stats,
                    elapsed=elapsed,
                    duration=config.duration,
                    metrics_url=metrics_url,
                )

            async with trio.open_nursery() as load:
                if stop is not None:
                    load.start_soon(_cancel_when_set, stop, load.cancel_scope)
                async with trio.open_nursery() as balancers:
                    for index, name in enumerate(BALANCERS):
                        balancers.start_soon(balance, index, name)
                    if live_view:
                        with Live(view(), console=console, refresh_per_second=4) as live:
                            while trio.current_time() - start < config.duration:
                                await trio.sleep(0.25)
                                live.update(view())
                            live.update(view())
                load.cancel_scope.cancel()
            elapsed = min(trio.current_time() - start, config.duration)
            nursery.cancel_scope.cancel()
    finally:
        for listener in metrics_listeners:  # closed already, unless the nursery failed early
            listener.socket.close()

    result = {
        "duration_s": config.duration,
        "elapsed_s": round(elapsed, 3),
        "interrupted": stop is not None and stop.is_set(),
        "rate_per_balancer": config.rate,
        "backends": {b.spec.name: b.spec.role for b in backends},
        "balancers": summary(stats, backends),
    }
    if config.json:
        console.print_json(json.dumps(result))
    elif not live_view:  # a live view leaves its last frame on screen: the summary
        console.print(
            render(
                backends,
                members=members,
                balancers=stats,
                elapsed=elapsed,
                duration=config.duration,
                metrics_url=None,  # the page is gone with the demo
            )
        )
    return result
