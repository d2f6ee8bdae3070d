"""Capped exponential backoff with jitter, for endpoints whose readiness failed."""

from __future__ import annotations

import random

import attrs

from ._validate import non_negative

__all__ = ["Backoff"]


@attrs.frozen
class Backoff:
    """How long an endpoint waits before it is re-created after its n-th failure in a row.

    The delay is ``min(maximum, initial * multiplier ** (n - 1))``, then shortened by a
    random fraction of up to ``jitter`` (0 to 1), so that endpoints that failed together
    do not all retry at the same instant.
    """

    initial: float = attrs.field(default=0.1, validator=non_negative)
    maximum: float = attrs.field(default=10.0, validator=non_negative)
    multiplier: float = attrs.field(default=2.0, validator=non_negative)
    jitter: float = attrs.field(default=0.5, validator=non_negative)

    def __attrs_post_init__(self) -> None:
        if self.jitter > 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")

    def delay(self, failures: int, rng: random.Random) -> float:
        """The delay after ``failures`` (>= 1) failures in a row."""
        exponent = min(failures - 1, 64)  # beyond that the cap applies anyway
        delay = min(self.maximum, self.initial * self.multiplier**exponent)
        return delay * (1.0 - self.jitter * rng.random())
