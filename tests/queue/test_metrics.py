"""Queue metrics: registered where the user says, and exact."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

from trio_pool import FailFastError, QueueMetricFamilies, Update, open_pool_queue
from trio_pool.testing import MockPool


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_queue_metrics_follow_what_happened(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry = CollectorRegistry()
    families = QueueMetricFamilies.register(registry, prefix="lb", labelnames=["service"])
    wall = [1_700_000_000.0]
    metrics = attrs.evolve(families.labels(service="users"), wall_clock=lambda: wall[0])
    labels = {"service": "users"}
    pool = MockPool(fast_path=False)
    discovery = trio.open_memory_channel[Update](0)[1]

    async with open_pool_queue(pool, discovery, failfast_timeout=2.0, metrics=metrics) as queue:
        assert sample(registry, "lb_queue_failfast_timeout_seconds", **labels) == 2.0
        assert sample(registry, "lb_queue_gate_open_time_seconds", **labels) == wall[0]
        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(queue.call, i)
            await trio.testing.wait_all_tasks_blocked()
            assert sample(registry, "lb_queue_length", **labels) == 2, "one is held"
            await trio.sleep(0.3)
            pool.handle.set_ready(True)
        assert sample(registry, "lb_queue_length", **labels) == 0
        assert sample(registry, "lb_queue_requests_total", **labels) == 3
        assert sample(registry, "lb_queue_latency_seconds_count", **labels) == 3
        # All three waited 0.3 s (virtual): they land in the 0.5 s bucket, not the 0.05 s one.
        assert sample(registry, "lb_queue_latency_seconds_bucket", le="0.05", **labels) == 0
        assert sample(registry, "lb_queue_latency_seconds_bucket", le="0.5", **labels) == 3

        pool.handle.set_ready(False)
        wall[0] += 10
        with pytest.raises(FailFastError):
            await queue.call("x")
        assert sample(registry, "lb_queue_gate_shut_total", **labels) == 1
        assert sample(registry, "lb_queue_gate_shut_time_seconds", **labels) == wall[0]
        with pytest.raises(FailFastError):
            await queue.call("refused at the gate")
        assert sample(registry, "lb_queue_requests_total", **labels) == 4, "refusals uncounted"
        wall[0] += 10
        pool.handle.set_ready(True)
        await queue.wait_available()
        assert sample(registry, "lb_queue_gate_open_total", **labels) == 1
        assert sample(registry, "lb_queue_gate_open_time_seconds", **labels) == wall[0]
        assert sample(registry, "lb_queue_length", **labels) == 0


async def test_no_global_registry_unless_asked() -> None:
    before = {m.name for m in REGISTRY.collect()}
    QueueMetricFamilies.register(CollectorRegistry(), prefix="private")
    after = {m.name for m in REGISTRY.collect()}
    assert before == after


def test_registering_twice_on_one_registry_fails() -> None:
    registry = CollectorRegistry()
    QueueMetricFamilies.register(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        QueueMetricFamilies.register(registry)


def test_label_values_must_match_label_names() -> None:
    families = QueueMetricFamilies.register(CollectorRegistry(), labelnames=["service"])
    with pytest.raises(ValueError, match="Incorrect label names"):
        families.labels(zone="a")
    assert families.labels(service="a").length is families.labels(service="a").length


def test_families_render_as_prometheus_client_renders_its_own() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    families = QueueMetricFamilies.register(ours, labelnames=["service"])
    requests = Counter(
        "trio_pool_queue_requests", "Requests accepted by the queue", ["service"], registry=theirs
    )
    latency = Histogram(
        "trio_pool_queue_latency_seconds",
        "Time requests spend in the queue before dispatch",
        ["service"],
        buckets=(0.0005, 0.005, 0.05, 0.5, 1.0, 3.0),
        registry=theirs,
    )
    metrics = families.labels(service="a")
    for value in (0.0, 0.0005, 0.003, 0.7, 10.0):
        metrics.latency.observe(value)
        latency.labels(service="a").observe(value)
    metrics.requests.inc(3)
    requests.labels(service="a").inc(3)

    def samples(registry: CollectorRegistry, family: str) -> list[str]:
        lines = generate_latest(registry).decode().splitlines()
        return [
            line
            for line in lines
            if line.startswith(family) and "_created" not in line and not line.startswith("#")
        ]

    for family in ("trio_pool_queue_requests", "trio_pool_queue_latency_seconds"):
        assert samples(ours, family) == samples(theirs, family)
    with pytest.raises(ValueError, match="only goes up"):
        metrics.requests.inc(-1)
