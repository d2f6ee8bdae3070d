"""Prometheus metrics of a pool, named after Linkerd's balancer: endpoints and updates.

Registered like the queue's (`QueueMetricFamilies`): families on the registry the user
passes, with the user's label names, and children bound to one pool's label values. A
pool made without metrics counts with `PoolMetrics.disabled`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from prometheus_client import CollectorRegistry

from .._metrics import CounterLike, Family, GaugeLike, counter_family, disabled, gauge_family

__all__ = ["PoolMetricFamilies", "PoolMetrics"]


@attrs.frozen
class PoolMetrics:
    """The metrics of one pool: children of `PoolMetricFamilies` bound to label values."""

    endpoints: GaugeLike
    """Endpoints in the pool, whatever their state."""
    updates_reset: CounterLike
    """Resets that changed the pool."""
    updates_add: CounterLike
    """Adds that changed the pool (a new endpoint, or a new target)."""
    updates_remove: CounterLike
    """Removes of an endpoint the pool held."""
    endpoint_failures: CounterLike
    """Endpoints whose readiness failed (each then backs off and is re-created)."""
    ejections: CounterLike = disabled
    """Endpoints ejected as outliers."""
    ejected: GaugeLike = disabled
    """Endpoints out as outliers now."""
    penalised: GaugeLike = disabled
    """Endpoints penalised by a ``Retry-After`` now."""
    panic: GaugeLike = disabled
    """1 while the pool is in panic (too few endpoints eligible), else 0."""
    panics: CounterLike = disabled
    """Times the pool entered panic."""

    @classmethod
    def disabled(cls) -> PoolMetrics:
        """Metrics that record nothing: what a pool made without metrics uses."""
        return cls(
            endpoints=disabled,
            updates_reset=disabled,
            updates_add=disabled,
            updates_remove=disabled,
            endpoint_failures=disabled,
        )


@attrs.frozen
class PoolMetricFamilies:
    """Pool metric families, registered on one registry; ``labels()`` binds one pool."""

    endpoints: Family[Any]
    updates: Family[Any]
    endpoint_failures: Family[Any]
    ejections: Family[Any]
    ejected: Family[Any]
    penalised: Family[Any]
    panic: Family[Any]
    panics: Family[Any]
    labelnames: tuple[str, ...] = ()

    @classmethod
    def register(
        cls,
        registry: CollectorRegistry,
        *,
        prefix: str = "trio_pool",
        labelnames: Sequence[str] = (),
    ) -> PoolMetricFamilies:
        """Create ``{prefix}_endpoints``, ``{prefix}_updates_total{op}``,
        ``{prefix}_endpoint_failures_total``, ``{prefix}_endpoint_ejections_total``,
        ``{prefix}_endpoints_ejected``, ``{prefix}_endpoints_penalised``,
        ``{prefix}_panic`` and ``{prefix}_panics_total`` on ``registry``."""
        names = tuple(labelnames)
        if "op" in names:
            raise ValueError("the label name 'op' is taken by the updates counter")
        return cls(
            endpoints=gauge_family(registry, f"{prefix}_endpoints", "Endpoints in the pool", names),
            updates=counter_family(
                registry,
                f"{prefix}_updates",
                "Discovery updates that changed the pool, by op",
                (*names, "op"),
            ),
            endpoint_failures=counter_family(
                registry,
                f"{prefix}_endpoint_failures",
                "Endpoints whose readiness failed",
                names,
            ),
            ejections=counter_family(
                registry,
                f"{prefix}_endpoint_ejections",
                "Endpoints ejected as outliers",
                names,
            ),
            ejected=gauge_family(
                registry, f"{prefix}_endpoints_ejected", "Endpoints out as outliers now", names
            ),
            penalised=gauge_family(
                registry,
                f"{prefix}_endpoints_penalised",
                "Endpoints penalised by a Retry-After now",
                names,
            ),
            panic=gauge_family(
                registry,
                f"{prefix}_panic",
                "1 while too few endpoints are eligible and the pool balances over all",
                names,
            ),
            panics=counter_family(
                registry, f"{prefix}_panics", "Times the pool entered panic", names
            ),
            labelnames=names,
        )

    def labels(self, **labelvalues: str) -> PoolMetrics:
        """The children for one pool, bound to ``labelvalues`` (one per label name)."""
        return PoolMetrics(
            endpoints=self.endpoints.labels(**labelvalues),
            updates_reset=self.updates.labels(**labelvalues, op="reset"),
            updates_add=self.updates.labels(**labelvalues, op="add"),
            updates_remove=self.updates.labels(**labelvalues, op="remove"),
            endpoint_failures=self.endpoint_failures.labels(**labelvalues),
            ejections=self.ejections.labels(**labelvalues),
            ejected=self.ejected.labels(**labelvalues),
            penalised=self.penalised.labels(**labelvalues),
            panic=self.panic.labels(**labelvalues),
            panics=self.panics.labels(**labelvalues),
        )
