"""What the metrics of every part share: the shape of a metric, and one that does nothing.

Each part keeps its metrics beside it (the queue's in ``_queue``, the pool's in
``_pool``), as Prometheus families registered on a registry the user passes, with the
user's label names. A part made without metrics gets the same object with every metric
`disabled`: code that counts never asks whether it should.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["CounterLike", "GaugeLike", "HistogramLike", "child_of", "disabled"]

_Metric = TypeVar("_Metric", Gauge, Counter, Histogram)


class CounterLike(Protocol):
    """A counter child: prometheus-client's ``Counter`` bound to label values."""

    def inc(self, amount: float = 1) -> None: ...


class GaugeLike(Protocol):
    """A gauge child: prometheus-client's ``Gauge`` bound to label values."""

    def inc(self, amount: float = 1) -> None: ...

    def dec(self, amount: float = 1) -> None: ...

    def set(self, value: float) -> None: ...


class HistogramLike(Protocol):
    """A histogram child: prometheus-client's ``Histogram`` bound to label values."""

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


def child_of(family: _Metric, labelnames: Sequence[str], labelvalues: dict[str, str]) -> _Metric:
    """The child of ``family`` for ``labelvalues``; a family without label names is its
    own (only) child. Raises ``ValueError`` if the values do not match the names."""
    return family.labels(**labelvalues) if labelnames else family
