"""`LatencyWindow`: a queue's recent latency percentile, the hedging delay it implies.

The last ``size`` latencies are kept in a ring of doubles; the percentile is computed
once enough are in and then after every tenth of the ring has been renewed, so one
observation costs an assignment, and the selection is spread over a tenth of the ring.
The estimate lags the ring by at most a tenth of it. For a high percentile the
selection keeps only the latencies above it (``heapq.nlargest``), not a sort of the
whole ring.

An observation may be a lower bound (a first copy cancelled unanswered when a hedge
won): only its rank matters, and it ranks above the delay it outlasted, as the true
latency would.

"Enough" means ten observations above the percentile: a percentile that rests on
fewer says more about chance than about the endpoints. The ring holds at most
`MAX_SIZE` latencies, whatever the percentile, so memory and work stay bounded: a
percentile above ``1 - 10 / MAX_SIZE`` (0.999) cannot have ten observations above it
in the ring, and is estimated by the highest latency of the window once it is full.
"""

from __future__ import annotations

import heapq
import math
from array import array

import attrs

__all__ = ["MAX_SIZE", "LatencyWindow"]

_MIN_SIZE = 1000
MAX_SIZE = 10_000
"""The most latencies a window keeps (80 kB): the wait before the first estimate is
at most this many observations."""
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
    _ring: array[float]
    _next: int
    _count: int
    _since: int
    _step: int

    def __init__(self, percentile: float) -> None:
        # Ten above the percentile, at most a full ring (1 - p can underflow to 0).
        above = 1.0 - percentile
        needed = MAX_SIZE if above <= 0 else math.ceil(min(_ABOVE / above, MAX_SIZE) - 1e-9)
        size = min(MAX_SIZE, max(_MIN_SIZE, needed))
        self.__attrs_init__(percentile, needed, size, None, array("d"), 0, 0, 0, max(1, size // 10))

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
            self.estimate = self._select()

    def _select(self) -> float:
        ring = self._ring
        n = len(ring)
        # Rank p * (n + 1): a new observation exceeds it with probability 1 - p (the
        # k-th of n lies below k / (n + 1) of the distribution, on average).
        rank = min(n - 1, max(0, math.ceil(self.percentile * (n + 1)) - 1))
        from_top = n - rank  # the rank-th smallest is the (n - rank)-th largest
        if from_top <= n // 8:
            return heapq.nlargest(from_top, ring)[-1]
        return sorted(ring)[rank]
