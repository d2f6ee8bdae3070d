"""Validators shared by the sources' attrs fields."""

from __future__ import annotations

from typing import Any

import attrs

from .._backoff import Backoff
from .._validate import positive
from ._metrics import DiscoveryMetrics

__all__ = ["MAX_HOST_LENGTH", "backoff", "host_port", "metrics", "positive", "tcp_port"]

MAX_HOST_LENGTH = 255


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


def host_port(address: object) -> None:
    """Raise unless ``address`` is ``(host, port)``: a host name or IP address without
    whitespace (IPv6 without brackets), and an int from 1 to 65535."""
    if not (isinstance(address, tuple) and len(address) == 2):
        raise TypeError(f"an address must be a (host, port) tuple, got {address!r}")
    host, port = address
    if not isinstance(host, str):
        raise TypeError(f"the host of {address!r} must be a str, got {type(host).__name__}")
    if not host or len(host) > MAX_HOST_LENGTH:
        raise ValueError(f"the host of {address!r} must have 1 to {MAX_HOST_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in host):
        raise ValueError(f"the host of {address!r} contains whitespace or control characters")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"the port of {address!r} must be an int, got {type(port).__name__}")
    if not 1 <= port <= 65535:
        raise ValueError(f"the port of {address!r} must be from 1 to 65535")
