"""`LatencyWindow`: a queue's recent latency percentile, the hedging delay it implies.

The last ``size`` latencies are kept in a ring; the percentile is computed from a
sorted copy (nearest rank) once enough are in and then after every tenth of the ring
has been renewed, so one observation costs an assignment, and a sort of the ring is
spread over a hundred of them. The estimate lags the ring by at most a tenth of it.

"Enough" means ten observations above the percentile: a percentile that rests on
fewer says more about chance than about the endpoints.
"""

from __future__ import annotations

import math

import attrs

__all__ = ["LatencyWindow"]

_MIN_SIZE = 1000
_ABOVE = 10  # observations above the percentile before it is trusted


@attrs.define(eq=False, init=False)
class LatencyWindow:
    """The recent ``percentile`` of the latencies observed, once there are enough."""

    percentile: float
    needed: int
    """Observations before the first estimate."""
    size: int
    """Observations kept."""
    estimate: float | None
    """The percentile of the ring when last computed; ``None`` until there are enough."""
    _ring: list[float]
    _next: int
    _count: int
    _since: int
    _step: int

    def __init__(self, percentile: float) -> None:
        needed = math.ceil(_ABOVE / (1.0 - percentile) - 1e-9)
        size = max(_MIN_SIZE, needed)
        self.__attrs_init__(percentile, needed, size, None, [], 0, 0, 0, max(1, size // 10))

    def observe(self, latency: float) -> None:
        """Count one latency, in seconds."""
        ring = self._ring
        if len(ring) < self.size:
            ring.append(latency)
        else:
            ring[self._next] = latency
            self._next = (self._next + 1) % self.size
        self._count += 1
        self._since += 1
        if self._count >= self.needed and (self.estimate is None or self._since >= self._step):
            self._since = 0
            ordered = sorted(ring)
            rank = math.ceil(self.percentile * len(ordered)) - 1
            self.estimate = ordered[max(0, rank)]
