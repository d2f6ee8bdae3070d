"""Load estimates that a pool compares endpoints by: Peak-EWMA and pending requests.

Peak-EWMA (Finagle's, as in tower's ``load::PeakEwma``) estimates an endpoint's latency
and multiplies it by its requests in flight plus one. The estimate

- jumps to an observed round-trip time at once if it is higher than the current value
  (the *peak*: a slowdown is believed immediately);
- otherwise moves toward it as an exponentially weighted moving average whose weight on
  the past is ``exp(-elapsed / decay)``, ``elapsed`` being the time since the last
  observation;
- between observations decays toward zero the same way, as if zeros were observed, so
  an endpoint that looked slow and got no traffic is eventually tried again.

A failed request must never make an endpoint look fast, or an endpoint that fails
quickly would attract all traffic: a failure is observed as at least
``failure_penalty`` seconds. A request cancelled by its caller says only that the
round trip took *at least* that long, so it may raise the estimate but never lower it.

An observation reported late (a leased call, whose lease was released after later calls
were observed) counts as simultaneous with the latest one: it can raise the estimate as a
peak, but moves no average.
"""

from __future__ import annotations

import math
from typing import Protocol

import attrs

from .._validate import positive
from ._bound import CallOutcome

__all__ = ["Load", "LoadTracker", "PeakEwma", "PendingRequests"]


class LoadTracker(Protocol):
    """The load of one endpoint: a cost to compare, and the accounting of its calls.

    A tracker may also offer ``key() -> float``: the log of its cost, less a term that
    is the same for every tracker of its `Load` at any one time, so that keys order
    trackers as their costs do at any time and change only in ``start`` and ``end``.
    `LeastLoadedPool` needs it (the shipped loads have it); the other pools do not.
    """

    @property
    def in_flight(self) -> int:
        """Requests started and not yet ended."""
        ...

    def cost(self, now: float) -> float:
        """The endpoint's load at ``now``: lower is better."""
        ...

    def start(self, now: float) -> None:
        """A request was bound to the endpoint at ``now``."""
        ...

    def end(self, started: float, now: float, outcome: CallOutcome) -> None:
        """A request bound at ``started`` was answered at ``now`` with ``outcome``.

        The request is no longer in flight. A leased call (see `Lease`) is reported when
        its lease is released, which may be after later requests were reported, so
        ``now`` is not always later than the ``now`` of the previous ``end``.
        """
        ...


class Load(Protocol):
    """A load policy: makes one `LoadTracker` per endpoint."""

    def tracker(self, now: float) -> LoadTracker:
        """A tracker for an endpoint created at ``now``."""
        ...


# log1p(n) for the counts of calls in flight that keys meet most: a key is read on every
# call's start and end by a least-loaded pool.
_LOG1P = tuple(math.log1p(n) for n in range(64))


@attrs.frozen
class PendingRequests:
    """Load = requests in flight on the endpoint, plus one.

    The one makes an idle endpoint's cost positive, as Peak-EWMA's factor
    ``(in flight + 1)`` does, so that a slow-start weight can divide it (Envoy's
    least-request ``weight / (active + 1)``); it changes no comparison.
    """

    def tracker(self, now: float) -> LoadTracker:
        return _PendingTracker()


class _PendingTracker:
    __slots__ = ("in_flight",)

    def __init__(self) -> None:
        self.in_flight = 0

    def cost(self, now: float) -> float:
        return float(self.in_flight + 1)

    def key(self) -> float:
        """The log of the cost (see `LoadTracker`)."""
        in_flight = self.in_flight
        return _LOG1P[in_flight] if in_flight < 64 else math.log1p(in_flight)

    def start(self, now: float) -> None:
        self.in_flight += 1

    def end(self, started: float, now: float, outcome: CallOutcome) -> None:
        self.in_flight -= 1


@attrs.frozen
class PeakEwma:
    """Load = peak-sensitive EWMA of latency x (requests in flight + 1).

    ``PeakEwma(default_rtt=0.03, decay=10.0, failure_penalty=1.0)``; each must be a
    positive finite number of seconds.
    """

    default_rtt: float = attrs.field(default=0.03, validator=positive)
    """The estimate of an endpoint with no observation yet: set it near the latency you
    expect. An endpoint is first tried when its cost is the lowest (P2C: the lower of
    its pair), and a new one's cost is this estimate, decaying over ``decay``. Where the
    others answer much faster and traffic comes one request at a time, a new endpoint
    waits until its estimate has decayed below theirs: about ``decay * ln(default_rtt /
    their latency)``, 34 s for 30 ms against 1 ms. Concurrent traffic raises the others'
    costs (their calls in flight) and tries it sooner; a lower ``default_rtt`` tries new
    endpoints at once, and a slow one then shows its latency on its first answer (a
    higher round trip is believed at once)."""
    decay: float = attrs.field(default=10.0, validator=positive)
    """The time constant of the moving average, and of the decay toward zero between
    observations."""
    failure_penalty: float = attrs.field(default=1.0, validator=positive)
    """A failed request counts as a round trip of at least this long: keep it well above
    your slowest healthy latency."""

    def tracker(self, now: float) -> LoadTracker:
        return _PeakEwmaTracker(self, now)


_OK = CallOutcome.OK
_FAILED = CallOutcome.FAILED
_DROPPED = CallOutcome.DROPPED
_exp = math.exp


class _PeakEwmaTracker:
    # On every call's path: the arithmetic is written out, not spread over helpers.
    __slots__ = ("_base", "_decay", "_penalty", "estimate", "in_flight", "stamp")

    def __init__(self, config: PeakEwma, now: float) -> None:
        self._decay = config.decay
        self._penalty = config.failure_penalty
        self.estimate = config.default_rtt
        self.stamp = now
        self.in_flight = 0
        self._base = math.log(self.estimate) + now / self._decay
        """The key without the calls in flight, kept as the estimate changes."""

    def current(self, now: float) -> float:
        """The latency estimate at ``now``, decayed since the last observation."""
        elapsed = now - self.stamp
        return self.estimate * _exp(-elapsed / self._decay) if elapsed > 0 else self.estimate

    def cost(self, now: float) -> float:
        elapsed = now - self.stamp
        estimate = self.estimate * _exp(-elapsed / self._decay) if elapsed > 0 else self.estimate
        return estimate * (self.in_flight + 1)

    def key(self) -> float:
        """The log of the cost, less the decay common to every tracker (see `LoadTracker`).

        Every estimate decays by the same factor over the same time: the log of the cost
        at ``now`` is this key less ``now / decay``, whatever the tracker.
        """
        in_flight = self.in_flight
        return self._base + (_LOG1P[in_flight] if in_flight < 64 else math.log1p(in_flight))

    def start(self, now: float) -> None:
        self.in_flight += 1

    def end(self, started: float, now: float, outcome: CallOutcome) -> None:
        self.in_flight -= 1
        rtt = now - started
        if outcome is not _OK:
            if outcome is _FAILED:
                rtt = max(rtt, self._penalty)
            elif outcome is _DROPPED or rtt <= self.current(now):
                return  # cancelled: says only "at least that long"
        self.observe(rtt, now)

    def observe(self, rtt: float, now: float) -> None:
        """Fold one round-trip time, observed at ``now``, into the estimate."""
        elapsed = now - self.stamp
        if elapsed > 0:
            weight = _exp(-elapsed / self._decay)
            decayed = self.estimate * weight
            self.stamp = now
        else:
            weight, decayed = 1.0, self.estimate
        estimate = self.estimate = rtt if rtt > decayed else decayed + rtt * (1.0 - weight)
        # An estimate decayed to nothing (after a very long idle) is the lowest key.
        self._base = math.log(estimate) + self.stamp / self._decay if estimate > 0.0 else -math.inf
