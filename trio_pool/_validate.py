"""Validators for the numeric fields of trio-pool's attrs classes."""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = ["non_negative", "positive"]


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
