"""`LatencyWindow`: a queue's recent latency percentile, the hedging delay it implies.

The last ``size`` latencies are kept in a ring; the percentile is computed from a
sorted copy once enough are in and then after every tenth of the ring has been
renewed, so one observation costs an assignment, and a sort of the ring is spread over
a hundred of them. The estimate lags the ring by at most a tenth of it.

An observation may be a lower bound (a first copy cancelled unanswered when a hedge
won): only its rank matters, and it ranks above the delay it outlasted, as the true
latency would.

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
            # Rank p * (n + 1): a new observation exceeds it with probability 1 - p
            # (the k-th of n lies below k / (n + 1) of the distribution, on average).
            rank = math.ceil(self.percentile * (len(ordered) + 1)) - 1
            self.estimate = ordered[min(len(ordered) - 1, max(0, rank))]
