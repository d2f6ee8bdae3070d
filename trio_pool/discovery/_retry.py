"""Transient failures of a source, and the capped backoff between its retries."""

from __future__ import annotations

import random

import attrs

from .._backoff import Backoff
from ._metrics import ErrorKind

__all__ = ["DEFAULT_BACKOFF", "Retry", "TransientError"]

DEFAULT_BACKOFF = Backoff(initial=0.5, maximum=30.0, multiplier=2.0, jitter=0.5)
"""How long a source waits after its n-th failure in a row: 0.5 s, 1 s, 2 s... up to 30 s."""


class TransientError(Exception):
    """A lookup or a connection failed in a way that retrying may fix.

    Sources raise it inside their own loop; it never leaves a source.
    """

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


@attrs.define(eq=False)
class Retry:
    """Counts failures in a row; each failure gives the delay before the next attempt."""

    backoff: Backoff
    rng: random.Random
    failures: int = 0

    def failed(self) -> float:
        """Count one more failure; return how long to wait before the next attempt."""
        self.failures += 1
        return self.backoff.delay(self.failures, self.rng)

    def succeeded(self) -> int:
        """Reset the count; return how many failures in a row came before."""
        failures, self.failures = self.failures, 0
        return failures
