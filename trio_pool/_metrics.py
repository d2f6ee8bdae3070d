"""Metric families that cost an attribute update on the hot path, for every part.

Each part keeps its metrics beside it (the queue's in ``_queue``, the pool's in
``_pool``), as families registered on a prometheus-client ``CollectorRegistry`` the
user passes, with the user's label names, so a scrape (``generate_latest(registry)``,
``start_http_server``) shows them as any Prometheus metric. A part made without metrics
gets the same object with every metric `disabled`: code that counts never asks whether
it should.

Why not prometheus-client's own ``Counter`` and ``Histogram``: they take a lock on
every update, and a request through the queue updates two or three of them. Counting
into plain attributes and building the samples when the registry is collected costs a
twentieth of that; the families keep prometheus-client's names, types and suffixes
(``_total``, ``_bucket``/``_count``/``_sum``, ``_created``). Values are updated by the
Trio thread and read without a lock by whichever thread collects: a scrape may see a
histogram's ``_count`` one observation apart from its ``_sum``, nothing worse.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Generic, Literal, Protocol, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

__all__ = [
    "CounterLike",
    "Family",
    "GaugeLike",
    "HistogramLike",
    "counter_family",
    "disabled",
    "gauge_family",
    "histogram_family",
]


class CounterLike(Protocol):
    """A counter child: counts up."""

    def inc(self, amount: float = 1) -> None: ...


class GaugeLike(Protocol):
    """A gauge child: goes up and down."""

    def inc(self, amount: float = 1) -> None: ...

    def dec(self, amount: float = 1) -> None: ...

    def set(self, value: float) -> None: ...


class HistogramLike(Protocol):
    """A histogram child: counts observations into buckets."""

    def observe(self, amount: float) -> None: ...


class _Disabled:
    """A metric that records nothing: what a part made without metrics counts with."""

    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass

    def __repr__(self) -> str:
        return "disabled"


disabled = _Disabled()
"""The metric that does nothing, for every field of a disabled metrics object."""


class _Counter:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError(f"a counter only goes up; inc({amount!r})")
        self.value += amount


class _Gauge:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = float(value)


class _Histogram:
    __slots__ = ("counts", "created", "sum", "upper")

    def __init__(self, upper: tuple[float, ...]) -> None:
        self.upper = upper  # the buckets' upper bounds, +Inf last
        self.counts = [0] * len(upper)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        self.sum += amount
        # The first bucket whose bound is >= amount: Prometheus buckets are "le".
        self.counts[bisect_left(self.upper, amount)] += 1


Kind = Literal["counter", "gauge", "histogram"]
Child = TypeVar("Child", _Counter, _Gauge, _Histogram)


class Family(Generic[Child]):
    """One metric family: its children by label values, collected into samples.

    A collector for prometheus-client's registry (``collect`` and ``describe``), so
    registering two families of one name on a registry raises ``ValueError`` there.
    """

    def __init__(
        self,
        kind: Kind,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float] = (),
    ) -> None:
        self.kind = kind
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        upper = sorted(float(b) for b in buckets)
        if kind == "histogram" and (not upper or upper[-1] != math.inf):
            upper.append(math.inf)
        self._upper = tuple(upper)
        self._children: dict[tuple[str, ...], Child] = {}

    def labels(self, **labelvalues: object) -> Child:
        """The child for ``labelvalues``, one per label name, made on first use.

        Raises ``ValueError`` if the values do not match the names.
        """
        if set(labelvalues) != set(self.labelnames):
            raise ValueError(
                f"Incorrect label names for {self.name}: got {sorted(labelvalues)}, "
                f"expected {sorted(self.labelnames)}"
            )
        key = tuple(str(labelvalues[name]) for name in self.labelnames)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    def remove(self, **labelvalues: object) -> None:
        """Drop every child whose labels include ``labelvalues`` (their series leave the
        scrape): one child for a value of every label name, more for fewer names."""
        wanted = {self.labelnames.index(name): str(value) for name, value in labelvalues.items()}
        for key in [k for k in self._children if all(k[i] == v for i, v in wanted.items())]:
            del self._children[key]

    def _new_child(self) -> Child:
        child: _Counter | _Gauge | _Histogram
        if self.kind == "counter":
            child = _Counter()
        elif self.kind == "gauge":
            child = _Gauge()
        else:
            child = _Histogram(self._upper)
        return child  # type: ignore[return-value]

    # -- the registry's collector protocol ------------------------------------------------

    def describe(self) -> list[Metric]:
        return [self._metric()]

    def collect(self) -> Iterable[Metric]:
        metric = self._metric()
        for key, child in list(self._children.items()):
            labels = list(key)
            if isinstance(child, _Counter):
                assert isinstance(metric, CounterMetricFamily)
                metric.add_metric(labels, child.value, created=child.created)
            elif isinstance(child, _Gauge):
                assert isinstance(metric, GaugeMetricFamily)
                metric.add_metric(labels, child.value)
            else:
                assert isinstance(metric, HistogramMetricFamily)
                counts = list(child.counts)
                cumulative, buckets = 0, []
                for bound, count in zip(child.upper, counts, strict=True):
                    cumulative += count
                    buckets.append((_bound_text(bound), float(cumulative)))
                metric.add_metric(labels, buckets, child.sum)
                metric.add_sample(
                    self.name + "_created",
                    dict(zip(self.labelnames, labels, strict=True)),
                    child.created,
                )
        return [metric]

    def _metric(self) -> Metric:
        labels = list(self.labelnames)
        if self.kind == "counter":
            return CounterMetricFamily(self.name, self.documentation, labels=labels)
        if self.kind == "gauge":
            return GaugeMetricFamily(self.name, self.documentation, labels=labels)
        return HistogramMetricFamily(self.name, self.documentation, labels=labels)


def _bound_text(bound: float) -> str:
    # As prometheus-client writes bucket bounds: +Inf, and floats in their repr.
    return "+Inf" if bound == math.inf else repr(float(bound))


def _registered(registry: CollectorRegistry, family: Family[Child]) -> Family[Child]:
    registry.register(family)
    return family


def counter_family(
    registry: CollectorRegistry, name: str, documentation: str, labelnames: Sequence[str]
) -> Family[_Counter]:
    """A counter family ``name`` (samples ``name_total``), registered on ``registry``."""
    return _registered(registry, Family("counter", name, documentation, labelnames))


def gauge_family(
    registry: CollectorRegistry, name: str, documentation: str, labelnames: Sequence[str]
) -> Family[_Gauge]:
    """A gauge family ``name``, registered on ``registry``."""
    return _registered(registry, Family("gauge", name, documentation, labelnames))


def histogram_family(
    registry: CollectorRegistry,
    name: str,
    documentation: str,
    labelnames: Sequence[str],
    buckets: Sequence[float],
) -> Family[_Histogram]:
    """A histogram family ``name`` with ``buckets`` (+Inf added), on ``registry``."""
    return _registered(registry, Family("histogram", name, documentation, labelnames, buckets))
