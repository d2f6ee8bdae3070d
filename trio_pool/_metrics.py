"""Prometheus metrics of a pool queue, named after Linkerd's balancer queue.

Families are registered once, on a registry the caller passes, with the caller's label
names; each queue then gets its own children bound to label values::

    registry = prometheus_client.CollectorRegistry()
    families = QueueMetricFamilies.register(registry, labelnames=["service"])
    async with open_pool_queue(pool, discovery, metrics=families.labels(service="users")):
        ...

Nothing touches prometheus-client's global registry unless it is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "QUEUE_LATENCY_BUCKETS",
    "PoolMetricFamilies",
    "PoolMetrics",
    "QueueMetricFamilies",
    "QueueMetrics",
]

_Metric = TypeVar("_Metric", Gauge, Counter, Histogram)


def child_of(family: _Metric, labelnames: Sequence[str], labelvalues: dict[str, str]) -> _Metric:
    """The child of ``family`` for ``labelvalues``; a family without label names is its
    own (only) child. Raises ``ValueError`` if the values do not match the names."""
    return family.labels(**labelvalues) if labelnames else family


QUEUE_LATENCY_BUCKETS = (0.0005, 0.005, 0.05, 0.5, 1.0, 3.0)
"""Histogram buckets (seconds) of the time a request spends in the queue."""


@attrs.frozen
class QueueMetrics:
    """The metrics of one queue: children of `QueueMetricFamilies` bound to label values.

    ``wall_clock`` stamps the gate's open and shut times; it is wall-clock time (Unix
    seconds) because that is what a Prometheus user compares those gauges against.
    """

    length: Gauge
    """Requests waiting for dispatch, callers waiting for room in the queue included."""
    requests: Counter
    """Requests accepted by the queue (not those refused at a shut gate)."""
    latency: Histogram
    """Seconds from a request's arrival to its dispatch to an endpoint."""
    gate_open: Counter
    """Times the failfast gate opened."""
    gate_shut: Counter
    """Times the failfast gate shut."""
    gate_open_time: Gauge
    """Unix time at which the gate last opened."""
    gate_shut_time: Gauge
    """Unix time at which the gate last shut."""
    failfast_timeout: Gauge
    """The queue's failfast timeout, in seconds."""
    wall_clock: Callable[[], float] = time.time


@attrs.frozen
class QueueMetricFamilies:
    """Queue metric families, registered on one registry; ``labels()`` binds one queue."""

    length: Gauge
    requests: Counter
    latency: Histogram
    gate_open: Counter
    gate_shut: Counter
    gate_open_time: Gauge
    gate_shut_time: Gauge
    failfast_timeout: Gauge
    labelnames: tuple[str, ...] = ()

    @classmethod
    def register(
        cls,
        registry: CollectorRegistry,
        *,
        prefix: str = "trio_pool",
        labelnames: Sequence[str] = (),
    ) -> QueueMetricFamilies:
        """Create the families under ``{prefix}_queue_...`` and register them on ``registry``.

        Raises ``ValueError`` (from prometheus-client) if they are already registered there.
        """
        names = tuple(labelnames)

        def name(suffix: str) -> str:
            return f"{prefix}_queue_{suffix}"

        return cls(
            length=Gauge(
                name("length"), "Requests waiting in the queue", labelnames=names, registry=registry
            ),
            requests=Counter(
                name("requests"),
                "Requests accepted by the queue",
                labelnames=names,
                registry=registry,
            ),
            latency=Histogram(
                name("latency_seconds"),
                "Time requests spend in the queue before dispatch",
                buckets=QUEUE_LATENCY_BUCKETS,
                labelnames=names,
                registry=registry,
            ),
            gate_open=Counter(
                name("gate_open"),
                "Times the failfast gate opened",
                labelnames=names,
                registry=registry,
            ),
            gate_shut=Counter(
                name("gate_shut"),
                "Times the failfast gate shut",
                labelnames=names,
                registry=registry,
            ),
            gate_open_time=Gauge(
                name("gate_open_time_seconds"),
                "Unix time the gate last opened",
                labelnames=names,
                registry=registry,
            ),
            gate_shut_time=Gauge(
                name("gate_shut_time_seconds"),
                "Unix time the gate last shut",
                labelnames=names,
                registry=registry,
            ),
            failfast_timeout=Gauge(
                name("failfast_timeout_seconds"),
                "The queue's failfast timeout",
                labelnames=names,
                registry=registry,
            ),
            labelnames=names,
        )

    def labels(self, **labelvalues: str) -> QueueMetrics:
        """The children for one queue, bound to ``labelvalues`` (one per label name)."""

        def child(family: _Metric) -> _Metric:
            return child_of(family, self.labelnames, labelvalues)

        return QueueMetrics(
            length=child(self.length),
            requests=child(self.requests),
            latency=child(self.latency),
            gate_open=child(self.gate_open),
            gate_shut=child(self.gate_shut),
            gate_open_time=child(self.gate_open_time),
            gate_shut_time=child(self.gate_shut_time),
            failfast_timeout=child(self.failfast_timeout),
        )


@attrs.frozen
class PoolMetrics:
    """The metrics of one pool: children of `PoolMetricFamilies` bound to label values."""

    endpoints: Gauge
    """Endpoints in the pool, whatever their state."""
    updates_reset: Counter
    """Resets that changed the pool."""
    updates_add: Counter
    """Adds that changed the pool (a new endpoint, or a new target)."""
    updates_remove: Counter
    """Removes of an endpoint the pool held."""
    endpoint_failures: Counter
    """Endpoints whose readiness failed (each then backs off and is re-created)."""


@attrs.frozen
class PoolMetricFamilies:
    """Pool metric families, registered on one registry; ``labels()`` binds one pool."""

    endpoints: Gauge
    updates: Counter
    endpoint_failures: Counter
    labelnames: tuple[str, ...] = ()

    @classmethod
    def register(
        cls,
        registry: CollectorRegistry,
        *,
        prefix: str = "trio_pool",
        labelnames: Sequence[str] = (),
    ) -> PoolMetricFamilies:
        """Create ``{prefix}_endpoints``, ``{prefix}_updates_total{op}`` and
        ``{prefix}_endpoint_failures_total`` on ``registry``."""
        names = tuple(labelnames)
        if "op" in names:
            raise ValueError("the label name 'op' is taken by the updates counter")
        return cls(
            endpoints=Gauge(
                f"{prefix}_endpoints",
                "Endpoints in the pool",
                labelnames=names,
                registry=registry,
            ),
            updates=Counter(
                f"{prefix}_updates",
                "Discovery updates that changed the pool, by op",
                labelnames=(*names, "op"),
                registry=registry,
            ),
            endpoint_failures=Counter(
                f"{prefix}_endpoint_failures",
                "Endpoints whose readiness failed",
                labelnames=names,
                registry=registry,
            ),
            labelnames=names,
        )

    def labels(self, **labelvalues: str) -> PoolMetrics:
        """The children for one pool, bound to ``labelvalues`` (one per label name)."""

        def child(family: _Metric) -> _Metric:
            return child_of(family, self.labelnames, labelvalues)

        return PoolMetrics(
            endpoints=child(self.endpoints),
            updates_reset=self.updates.labels(**labelvalues, op="reset"),
            updates_add=self.updates.labels(**labelvalues, op="add"),
            updates_remove=self.updates.labels(**labelvalues, op="remove"),
            endpoint_failures=child(self.endpoint_failures),
        )
