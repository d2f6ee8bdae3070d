"""Validators shared by the sources' attrs fields."""

from __future__ import annotations

from typing import Any

import attrs

from .._backoff import Backoff
from .._validate import positive
from ._metrics import DiscoveryMetrics

__all__ = ["backoff", "metrics", "positive", "tcp_port"]


def tcp_port(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An int from 1 to 65535."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int, got {value!r}")
    if not 1 <= value <= 65535:
        raise ValueError(f"{attribute.name} must be from 1 to 65535, got {value!r}")


def metrics(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """``None`` or `DiscoveryMetrics`."""
    if value is not None and not isinstance(value, DiscoveryMetrics):
        raise TypeError(
            f"{attribute.name} must come from DiscoveryMetricFamilies.labels(), "
            f"got {type(value).__name__}"
        )


def backoff(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A `Backoff`."""
    if not isinstance(value, Backoff):
        raise TypeError(f"{attribute.name} must be a trio_pool.Backoff, got {value!r}")
