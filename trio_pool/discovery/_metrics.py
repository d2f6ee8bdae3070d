"""Prometheus metrics of discovery sources: updates by source and op, errors by kind.

As with the queue's metrics, the families are registered once, on a registry the caller
passes, with the caller's label names; ``labels()`` binds label values, and every source
given the result adds its own ``source`` label:

```python
registry = prometheus_client.CollectorRegistry()
families = DiscoveryMetricFamilies.register(registry, labelnames=["service"])
discovery = DnsDiscovery("users.internal", 8080, metrics=families.labels(service="users"))
```

Nothing touches prometheus-client's global registry unless it is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import attrs
from prometheus_client import CollectorRegistry, Counter, Gauge

from .._update import Add, DoesNotExist, Remove, Reset, Update

__all__ = ["ERROR_KINDS", "DiscoveryMetricFamilies", "DiscoveryMetrics", "ErrorKind"]

ErrorKind = Literal[
    "bad_record", "invalid", "timeout", "servfail", "unavailable", "compacted", "unauthorized"
]
"""The ``kind`` label of the errors counter."""

ERROR_KINDS: Final[tuple[ErrorKind, ...]] = (
    "bad_record",
    "invalid",
    "timeout",
    "servfail",
    "unavailable",
    "compacted",
    "unauthorized",
)
"""Every error kind, in the order of `DiscoveryMetrics.record_error`'s documentation."""

_RESERVED = ("source", "op", "kind")


def _op(update: Update) -> str:
    if isinstance(update, Reset):
        return "reset"
    if isinstance(update, Add):
        return "add"
    if isinstance(update, Remove):
        return "remove"
    if isinstance(update, DoesNotExist):
        return "does_not_exist"
    raise TypeError(f"not an update: {update!r}")


@attrs.frozen
class DiscoveryMetrics:
    """The families of `DiscoveryMetricFamilies`, bound to the caller's label values.

    Pass it as ``metrics=`` to any number of sources: each counts under its own
    ``source`` label (``static``, ``file``, ``dns``, ``etcd``, ``kubernetes``). Sources of
    one kind that share it also share their series; give them different label values to
    tell them apart. A discovery source of one's own can count with the same methods.
    """

    updates: Counter
    """The updates family: label names, then ``source`` and ``op``."""
    errors: Counter
    """The errors family: label names, then ``source`` and ``kind``."""
    endpoints: Gauge
    """The endpoints family: label names, then ``source``."""
    labelvalues: tuple[str, ...] = ()
    """Values of the caller's label names, in their order."""

    def record_update(self, source: str, update: Update) -> None:
        """Count ``update`` under ``op`` = ``reset``, ``add``, ``remove`` or ``does_not_exist``."""
        self.updates.labels(*self.labelvalues, source, _op(update)).inc()

    def record_error(self, source: str, kind: ErrorKind) -> None:
        """Count one error of ``kind``:

        - ``bad_record``: one record was skipped (malformed, or a duplicate address);
        - ``invalid``: a whole document or response was unusable, the last set is kept;
        - ``timeout``: a lookup or request took too long;
        - ``servfail``: no DNS server could answer (SERVFAIL, REFUSED);
        - ``unavailable``: the server could not be reached or read, or the watch broke;
        - ``compacted``: the history a watch or a paginated list resumed from is gone: etcd
          compacted the revision, or Kubernetes answered 410 Gone (a re-list follows);
        - ``unauthorized``: the server refused the credentials (HTTP 401) or the permission
          (HTTP 403), or the token file could not be read.
        """
        self.errors.labels(*self.labelvalues, source, kind).inc()

    def set_endpoints(self, source: str, count: int) -> None:
        """Set the number of endpoints the source last reported."""
        self.endpoints.labels(*self.labelvalues, source).set(count)


@attrs.frozen
class DiscoveryMetricFamilies:
    """Discovery metric families, registered on one registry; ``labels()`` binds them."""

    updates: Counter
    errors: Counter
    endpoints: Gauge
    labelnames: tuple[str, ...] = ()

    @classmethod
    def register(
        cls,
        registry: CollectorRegistry,
        *,
        prefix: str = "trio_pool",
        labelnames: Sequence[str] = (),
    ) -> DiscoveryMetricFamilies:
        """Create ``{prefix}_discovery_updates_total{source, op}``,
        ``{prefix}_discovery_errors_total{source, kind}`` and
        ``{prefix}_discovery_endpoints{source}`` on ``registry``, after the caller's
        ``labelnames``.

        Raises ``ValueError`` if a label name is ``source``, ``op`` or ``kind``, or (from
        prometheus-client) if the families are already registered there.
        """
        names = tuple(labelnames)
        for reserved in _RESERVED:
            if reserved in names:
                raise ValueError(f"the label name {reserved!r} is taken by discovery metrics")

        def name(suffix: str) -> str:
            return f"{prefix}_discovery_{suffix}"

        return cls(
            updates=Counter(
                name("updates"),
                "Updates yielded by discovery sources, by source and op",
                labelnames=(*names, "source", "op"),
                registry=registry,
            ),
            errors=Counter(
                name("errors"),
                "Discovery errors (skipped records, failed lookups), by source and kind",
                labelnames=(*names, "source", "kind"),
                registry=registry,
            ),
            endpoints=Gauge(
                name("endpoints"),
                "Endpoints a discovery source last reported",
                labelnames=(*names, "source"),
                registry=registry,
            ),
            labelnames=names,
        )

    def labels(self, **labelvalues: str) -> DiscoveryMetrics:
        """Bind ``labelvalues``, one per label name given to `register`.

        Raises ``ValueError`` if the names do not match.
        """
        if set(labelvalues) != set(self.labelnames):
            raise ValueError(
                f"expected values for the label names {list(self.labelnames)}, "
                f"got {sorted(labelvalues)}"
            )
        return DiscoveryMetrics(
            updates=self.updates,
            errors=self.errors,
            endpoints=self.endpoints,
            labelvalues=tuple(str(labelvalues[name]) for name in self.labelnames),
        )
