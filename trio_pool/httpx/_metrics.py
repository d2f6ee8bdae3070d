"""Prometheus metrics of a balanced transport: each authority's queue and pool, and each
endpoint's requests.

Registered once on a registry the user passes::

    families = TransportMetricFamilies.register(registry)
    async with open_balanced_transport(resolve, metrics=families) as transport:
        ...

The transport labels the core's queue and pool families (`trio_pool.QueueMetricFamilies`,
`trio_pool.PoolMetricFamilies`) by ``authority`` (``str(Authority)``: ``api.test:443``),
and its own per-endpoint families by ``authority`` and ``endpoint`` (``10.0.0.7:8080``).
Series are *dropped* when what they describe goes: an endpoint's when discovery removes
its address, an authority's when its balancer closes (idle, failed, or the transport
closing). So a fleet that churns, or a client that talks to many hosts over time, holds
series only for what exists now, and the registry cannot grow without bound. Counters
of something that comes back start again from zero, which Prometheus' ``rate()`` reads
as a counter reset.

Families with user label names (``labelnames=["client"]``) are bound to values with
`TransportMetricFamilies.labels`; that is also how two transports share a registry, each
with its own values (one set of values serves one open transport at a time).

Retries, hedges and the budgets' refusals count on the queue's families
(``trio_pool_queue_retries_total``, ``_hedges_total``, ``_retries_refused_total``,
``_hedges_refused_total``), by ``authority`` like the rest of the queue's: each
authority's queue runs its retries and keeps its budgets' balances, so that is where
they are counted, and no family of the transport's own is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from .._pool import PoolMetricFamilies, PoolMetrics
from .._queue import QueueMetricFamilies, QueueMetrics
from .._update import Update
from ._authority import Authority
from ._discovery import leaving

__all__ = [
    "ENDPOINT_LATENCY_BUCKETS",
    "AuthorityMeter",
    "EndpointMetricFamilies",
    "EndpointMetrics",
    "TransportMeter",
    "TransportMetricFamilies",
    "TransportMetrics",
    "endpoint_label",
]

ENDPOINT_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Histogram buckets (seconds) of an endpoint's latency to the response headers."""

# Label names the transport sets itself; the updates counter of the pool takes "op".
_RESERVED = ("authority", "endpoint", "op")


def endpoint_label(address: Any) -> str:
    """The ``endpoint`` label of an address: ``host:port``, IPv6 hosts in brackets."""
    if isinstance(address, tuple) and len(address) == 2:
        host, port = address
        if isinstance(host, str) and ":" in host:
            host = f"[{host}]"
        return f"{host}:{port}"
    return str(address)


@attrs.frozen
class EndpointMetrics:
    """The metrics of one endpoint of one authority."""

    requests: CounterLike
    """Requests sent to the endpoint (those that could not connect included)."""
    latency: HistogramLike
    """Seconds from sending a request to its response headers."""
    failures: CounterLike
    """Requests that failed: an error (could not connect, timed out, ...) or a response
    whose status is one of ``failure_statuses`` (5xx by default)."""
    in_flight: GaugeLike
    """Requests sent and not yet done, each until its response (body included) is closed."""

    @classmethod
    def disabled(cls) -> EndpointMetrics:
        """Metrics that record nothing: what an endpoint of an unmetered transport uses."""
        return _DISABLED_ENDPOINT


_DISABLED_ENDPOINT = EndpointMetrics(
    requests=disabled, latency=disabled, failures=disabled, in_flight=disabled
)


@attrs.define(eq=False)
class EndpointMetricFamilies:
    """The per-endpoint families, labelled by the user's names, ``authority`` and
    ``endpoint``; made by `TransportMetricFamilies.register`.

    They count on every request, so they are the core's plain-number families
    (collected into Prometheus samples when the registry is collected), which cost a
    request a fraction of what a prometheus-client child, with its lock, costs.
    """

    labelnames: tuple[str, ...]
    """The user's label names, then ``authority`` and ``endpoint``."""
    requests: Family[Any]
    latency: Family[Any]
    failures: Family[Any]
    in_flight: Family[Any]

    @classmethod
    def register(
        cls, registry: CollectorRegistry, *, prefix: str, labelnames: Sequence[str]
    ) -> EndpointMetricFamilies:
        """``{prefix}_endpoint_requests_total``, ``{prefix}_endpoint_latency_seconds``,
        ``{prefix}_endpoint_request_failures_total``, ``{prefix}_endpoint_in_flight``.

        Raises ``ValueError`` (from prometheus-client) if these names are taken there.
        """
        names = (*labelnames, "authority", "endpoint")
        return cls(
            names,
            requests=counter_family(
                registry, f"{prefix}_endpoint_requests", "Requests sent to the endpoint", names
            ),
            latency=histogram_family(
                registry,
                f"{prefix}_endpoint_latency_seconds",
                "Time from sending a request to the endpoint to its response headers",
                names,
                ENDPOINT_LATENCY_BUCKETS,
            ),
            failures=counter_family(
                registry,
                f"{prefix}_endpoint_request_failures",
                "Requests to the endpoint that failed: an error, or a failure status",
                names,
            ),
            in_flight=gauge_family(
                registry,
                f"{prefix}_endpoint_in_flight",
                "Requests to the endpoint not yet done (until their body is closed)",
                names,
            ),
        )

    def _values(self, values: Sequence[str]) -> dict[str, str]:
        if len(values) != len(self.labelnames):
            raise ValueError(f"expected values for {list(self.labelnames)}, got {list(values)}")
        return dict(zip(self.labelnames, values, strict=True))

    def labels(self, values: Sequence[str]) -> EndpointMetrics:
        """The series of one endpoint (the same children for the same values)."""
        labels = self._values(values)
        return EndpointMetrics(
            requests=self.requests.labels(**labels),
            latency=self.latency.labels(**labels),
            failures=self.failures.labels(**labels),
            in_flight=self.in_flight.labels(**labels),
        )

    def remove(self, values: Sequence[str]) -> None:
        """Drop the series of one endpoint; an unknown one is ignored."""
        labels = self._values(values)
        for family in (self.requests, self.latency, self.failures, self.in_flight):
            family.remove(**labels)


@attrs.frozen
class TransportMetricFamilies:
    """The metric families of balanced transports, registered on one registry.

    ::

        registry = prometheus_client.CollectorRegistry()
        families = TransportMetricFamilies.register(registry)
        async with open_balanced_transport(resolve, metrics=families) as transport:
            ...

    With ``labelnames``, pass ``families.labels(...)`` instead, one set of values per
    transport (say ``labelnames=["client"]`` and ``families.labels(client="billing")``).
    See the module for the families, their labels, and when series are dropped.
    """

    queue: QueueMetricFamilies
    """Each authority's queue: `trio_pool.QueueMetricFamilies`, labelled ``authority``."""
    pool: PoolMetricFamilies
    """Each authority's pool: `trio_pool.PoolMetricFamilies`, labelled ``authority``."""
    endpoint: EndpointMetricFamilies
    """Each endpoint's requests, labelled ``authority`` and ``endpoint``."""
    labelnames: tuple[str, ...] = ()
    """The user's own label names (``authority`` and ``endpoint`` come after them)."""
    _in_use: dict[tuple[str, ...], object] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def register(
        cls,
        registry: CollectorRegistry,
        *,
        prefix: str = "trio_pool",
        labelnames: Sequence[str] = (),
    ) -> TransportMetricFamilies:
        """Create the families under ``prefix`` and register them on ``registry``.

        Raises ``ValueError`` if a label name is one the transport sets itself
        (``authority``, ``endpoint``, ``op``), or (from prometheus-client) if families
        of these names are already registered there, say by
        `trio_pool.QueueMetricFamilies` with the same prefix.
        """
        names = tuple(labelnames)
        if isinstance(labelnames, str) or not all(isinstance(name, str) for name in names):
            raise TypeError(f"labelnames must be a sequence of str, got {labelnames!r}")
        taken = [name for name in names if name in _RESERVED]
        if taken:
            raise ValueError(
                f"the label names {', '.join(map(repr, taken))} are set by the transport; "
                "choose others"
            )
        labelled = (*names, "authority")
        return cls(
            queue=QueueMetricFamilies.register(registry, prefix=prefix, labelnames=labelled),
            pool=PoolMetricFamilies.register(registry, prefix=prefix, labelnames=labelled),
            endpoint=EndpointMetricFamilies.register(registry, prefix=prefix, labelnames=names),
            labelnames=names,
        )

    def labels(self, **labelvalues: str) -> TransportMetrics:
        """The metrics of one transport, bound to ``labelvalues`` (one per label name)."""
        if set(labelvalues) != set(self.labelnames):
            raise ValueError(
                f"labels() takes exactly the label names {list(self.labelnames)}, "
                f"got {sorted(labelvalues)}"
            )
        return TransportMetrics(self, tuple(str(labelvalues[name]) for name in self.labelnames))


@attrs.frozen
class TransportMetrics:
    """The metrics of one transport: `TransportMetricFamilies` bound to the user's label
    values; from `TransportMetricFamilies.labels`."""

    families: TransportMetricFamilies
    values: tuple[str, ...]
    """The user's label values, in the order of ``families.labelnames``."""


def _remove(family: Family[Any], values: Sequence[str]) -> None:
    # Every series with our values, whatever label names the family has after ours
    # (the updates counter's op).
    family.remove(**dict(zip(family.labelnames, values, strict=False)))


def _metric_fields(families: QueueMetricFamilies | PoolMetricFamilies) -> list[Family[Any]]:
    """The metric families among the fields of a families object, whatever fields the
    core adds later."""
    return [
        getattr(families, field.name)
        for field in attrs.fields(type(families))
        if isinstance(getattr(families, field.name), Family)
    ]


@attrs.define(eq=False)
class TransportMeter:
    """What an open transport counts with: its claim on one set of label values, and
    one `AuthorityMeter` per balancer. ``metrics=None`` gives one that counts nothing."""

    _metrics: TransportMetrics | None
    _labels_in_use: dict[str, Authority] = attrs.field(factory=dict, init=False)
    _claimed: bool = attrs.field(default=False, init=False)

    @classmethod
    def of(cls, metrics: TransportMetricFamilies | TransportMetrics | None) -> TransportMeter:
        """Check what ``open_balanced_transport`` was given as ``metrics``."""
        if metrics is None or isinstance(metrics, TransportMetrics):
            return cls(metrics)
        if isinstance(metrics, TransportMetricFamilies):
            if metrics.labelnames:
                raise ValueError(
                    f"these families have label names {list(metrics.labelnames)}: pass "
                    f"metrics=families.labels({', '.join(f'{n}=...' for n in metrics.labelnames)})"
                )
            return cls(metrics.labels())
        raise TypeError(
            "metrics must be TransportMetricFamilies.register(registry) or its labels(...), "
            f"got {type(metrics).__name__}"
        )

    @property
    def enabled(self) -> bool:
        return self._metrics is not None

    def claim(self) -> None:
        """Hold the label values for this transport, or say that another one holds them."""
        metrics = self._metrics
        if metrics is None:
            return
        in_use = metrics.families._in_use
        if metrics.values in in_use:
            values = dict(zip(metrics.families.labelnames, metrics.values, strict=True))
            raise ValueError(
                "these metrics are in use by another open balanced transport"
                + (f" with the label values {values}" if values else "")
                + ": two transports would count in the same series; give each its own "
                "values (TransportMetricFamilies.register(registry, labelnames=[...]), "
                "then labels(...)) or its own registry"
            )
        in_use[metrics.values] = self
        self._claimed = True

    def release(self) -> None:
        metrics = self._metrics
        if metrics is not None and self._claimed:
            self._claimed = False
            metrics.families._in_use.pop(metrics.values, None)

    def authority(self, authority: Authority) -> AuthorityMeter:
        """The meter of a new balancer for ``authority``; `AuthorityMeter.close` when it
        goes."""
        metrics = self._metrics
        if metrics is None:
            return AuthorityMeter.disabled()
        label = str(authority)
        holder = self._labels_in_use.get(label)
        if holder is not None and holder != authority:
            # The same host:port under both schemes at once: series of their own, by origin.
            label = authority.origin
        self._labels_in_use[label] = authority
        families, base = metrics.families, (*metrics.values, label)
        names = (*families.labelnames, "authority")
        labelvalues = dict(zip(names, base, strict=True))
        return AuthorityMeter(
            label,
            families.queue.labels(**labelvalues),
            families.pool.labels(**labelvalues),
            families,
            base,
            self,
        )

    def _released(self, label: str) -> None:
        self._labels_in_use.pop(label, None)


@attrs.define(eq=False)
class AuthorityMeter:
    """The metrics of one balancer: its queue's, its pool's, and its endpoints'."""

    label: str
    """The ``authority`` label value."""
    queue: QueueMetrics
    pool: PoolMetrics
    _families: TransportMetricFamilies | None = None
    _base: tuple[str, ...] = ()
    _meter: TransportMeter | None = None
    _endpoints: dict[str, EndpointMetrics] = attrs.field(factory=dict, init=False)
    _closed: bool = attrs.field(default=False, init=False)

    @classmethod
    def disabled(cls) -> AuthorityMeter:
        return cls("", QueueMetrics.disabled(), PoolMetrics.disabled())

    def endpoint(self, address: Any) -> EndpointMetrics:
        """The metrics of the endpoint at ``address`` (the same for each endpoint object
        made at that address, as long as it stays in discovery)."""
        families = self._families
        if families is None or self._closed:
            return _DISABLED_ENDPOINT
        label = endpoint_label(address)
        metrics = self._endpoints.get(label)
        if metrics is None:
            metrics = self._endpoints[label] = families.endpoint.labels((*self._base, label))
        return metrics

    def updated(self, update: Update) -> None:
        """Discovery yielded ``update``: drop the series of each address it removes.

        Called before the pool applies it, with no checkpoint between; an endpoint still
        finishing a request counts on into series no longer exported.
        """
        for label in leaving(update, self._endpoints, endpoint_label):
            self._forget_endpoint(label)

    def _forget_endpoint(self, label: str) -> None:
        if self._endpoints.pop(label, None) is not None:
            assert self._families is not None
            self._families.endpoint.remove((*self._base, label))

    def close(self) -> None:
        """The balancer is gone: drop every series of its authority. Idempotent."""
        families, meter = self._families, self._meter
        if self._closed or families is None or meter is None:
            return
        self._closed = True
        for label in list(self._endpoints):
            self._forget_endpoint(label)
        for family in (*_metric_fields(families.queue), *_metric_fields(families.pool)):
            _remove(family, self._base)
        meter._released(self.label)
