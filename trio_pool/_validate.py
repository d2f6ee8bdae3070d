"""Validators for the numeric fields of trio-pool's attrs classes."""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = ["check_flag", "check_seconds", "non_negative", "positive"]


def _number(attribute: attrs.Attribute[Any], value: object) -> float:
    # bool is an int, but True seconds is a caller's mistake.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number, got {value!r}")
    return value


def positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A finite number > 0."""
    number = _number(attribute, value)
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value!r}")


def non_negative(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A finite number >= 0."""
    number = _number(attribute, value)
    if not (number >= 0 and math.isfinite(number)):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def check_seconds(name: str, value: object, *, infinite: bool = False) -> float:
    """``value`` as a duration in seconds > 0 (``math.inf`` allowed with ``infinite``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not value > 0 or (math.isinf(value) and not infinite):
        finite = "" if infinite else " and finite"
        raise ValueError(f"{name} must be > 0{finite}, got {value!r}")
    return float(value)


def check_flag(name: str, value: object) -> bool:
    """``value`` as a flag: a ``bool`` and nothing else (not a truthy object)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value
