"""Prometheus metrics of a pool queue, named after Linkerd's balancer queue.

Families are registered once, on a registry the caller passes, with the caller's label
names; each queue then gets its own children bound to label values::

    registry = prometheus_client.CollectorRegistry()
    families = QueueMetricFamilies.register(registry, labelnames=["service"])
    async with open_pool_queue(pool, discovery, metrics=families.labels(service="users")):
        ...

Nothing touches prometheus-client's global registry unless it is passed in. A queue
opened without metrics counts with `QueueMetrics.disabled`, whose metrics do nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .._metrics import CounterLike, GaugeLike, HistogramLike, child_of, disabled

__all__ = ["QUEUE_LATENCY_BUCKETS", "QueueMetricFamilies", "QueueMetrics"]

_Metric = TypeVar("_Metric", Gauge, Counter, Histogram)

QUEUE_LATENCY_BUCKETS = (0.0005, 0.005, 0.05, 0.5, 1.0, 3.0)
"""Histogram buckets (seconds) of the time a request spends in the queue."""


@attrs.frozen
class QueueMetrics:
    """The metrics of one queue: children of `QueueMetricFamilies` bound to label values.

    ``wall_clock`` stamps the gate's open and shut times; it is wall-clock time (Unix
    seconds) because that is what a Prometheus user compares those gauges against.
    """

    length: GaugeLike
    """Requests waiting for dispatch, callers waiting for room in the queue included."""
    requests: CounterLike
    """Requests accepted by the queue (not those refused at a shut gate)."""
    latency: HistogramLike
    """Seconds from a request's arrival to its dispatch to an endpoint."""
    gate_open: CounterLike
    """Times the failfast gate opened."""
    gate_shut: CounterLike
    """Times the failfast gate shut."""
    gate_open_time: GaugeLike
    """Unix time at which the gate last opened."""
    gate_shut_time: GaugeLike
    """Unix time at which the gate last shut."""
    failfast_timeout: GaugeLike
    """The queue's failfast timeout, in seconds."""
    wall_clock: Callable[[], float] = time.time

    @classmethod
    def disabled(cls) -> QueueMetrics:
        """Metrics that record nothing: what a queue opened without metrics uses."""
        return cls(
            length=disabled,
            requests=disabled,
            latency=disabled,
            gate_open=disabled,
            gate_shut=disabled,
            gate_open_time=disabled,
            gate_shut_time=disabled,
            failfast_timeout=disabled,
        )


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
