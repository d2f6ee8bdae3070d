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
from typing import Any

import attrs
from prometheus_client import CollectorRegistry

from .._metrics import (
    CounterLike,
    Family,
    GaugeLike,
    HistogramLike,
    counter_family,
    disabled,
    gauge_family,
    histogram_family,
)

__all__ = ["QUEUE_LATENCY_BUCKETS", "QueueMetricFamilies", "QueueMetrics"]

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
    retries: CounterLike = disabled
    """Retries sent (attempts after the first of a call), under the queue's `RetryPolicy`."""
    hedges: CounterLike = disabled
    """Hedges sent (copies of a call beyond the first), under the queue's `Hedging`."""
    retries_refused: CounterLike = disabled
    """Retries that the retry budget refused: the caller got the last outcome instead."""
    hedges_refused: CounterLike = disabled
    """Hedges that the hedging budget refused."""
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

    length: Family[Any]
    requests: Family[Any]
    latency: Family[Any]
    gate_open: Family[Any]
    gate_shut: Family[Any]
    gate_open_time: Family[Any]
    gate_shut_time: Family[Any]
    failfast_timeout: Family[Any]
    retries: Family[Any]
    hedges: Family[Any]
    retries_refused: Family[Any]
    hedges_refused: Family[Any]
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
            length=gauge_family(registry, name("length"), "Requests waiting in the queue", names),
            requests=counter_family(
                registry, name("requests"), "Requests accepted by the queue", names
            ),
            latency=histogram_family(
                registry,
                name("latency_seconds"),
                "Time requests spend in the queue before dispatch",
                names,
                QUEUE_LATENCY_BUCKETS,
            ),
            gate_open=counter_family(
                registry, name("gate_open"), "Times the failfast gate opened", names
            ),
            gate_shut=counter_family(
                registry, name("gate_shut"), "Times the failfast gate shut", names
            ),
            gate_open_time=gauge_family(
                registry, name("gate_open_time_seconds"), "Unix time the gate last opened", names
            ),
            gate_shut_time=gauge_family(
                registry, name("gate_shut_time_seconds"), "Unix time the gate last shut", names
            ),
            failfast_timeout=gauge_family(
                registry, name("failfast_timeout_seconds"), "The queue's failfast timeout", names
            ),
            retries=counter_family(registry, name("retries"), "Retries sent", names),
            hedges=counter_family(registry, name("hedges"), "Hedged requests sent", names),
            retries_refused=counter_family(
                registry, name("retries_refused"), "Retries refused by the retry budget", names
            ),
            hedges_refused=counter_family(
                registry, name("hedges_refused"), "Hedges refused by the hedging budget", names
            ),
            labelnames=names,
        )

    def labels(self, **labelvalues: str) -> QueueMetrics:
        """The children for one queue, bound to ``labelvalues`` (one per label name).

        Raises ``ValueError`` if the values do not match the label names.
        """
        return QueueMetrics(
            length=self.length.labels(**labelvalues),
            requests=self.requests.labels(**labelvalues),
            latency=self.latency.labels(**labelvalues),
            gate_open=self.gate_open.labels(**labelvalues),
            gate_shut=self.gate_shut.labels(**labelvalues),
            gate_open_time=self.gate_open_time.labels(**labelvalues),
            gate_shut_time=self.gate_shut_time.labels(**labelvalues),
            failfast_timeout=self.failfast_timeout.labels(**labelvalues),
            retries=self.retries.labels(**labelvalues),
            hedges=self.hedges.labels(**labelvalues),
            retries_refused=self.retries_refused.labels(**labelvalues),
            hedges_refused=self.hedges_refused.labels(**labelvalues),
        )
