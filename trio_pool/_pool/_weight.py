"""A member's weight now: the share of its fair share it gets, for every policy.

Two things weigh a member down, and they multiply:

- slow start (`SlowStart`): a member that joined a warm pool ramps up from
  ``min_weight`` to 1 over the window;
- a ``Retry-After`` penalty: an endpoint whose answer asked for no more calls for a
  while (an HTTP 429 or 503 with ``Retry-After``, reported through its `Lease`) weighs
  `PENALISED` until then. The others are preferred; it is never withdrawn, so a pool
  whose every endpoint is penalised still calls them, as a client with no balancer
  would.

P2C and the least-loaded pool divide a member's cost by its weight (Envoy's rule for
weighted least-request); round robin and random pass a member by with probability
``1 - weight``. A computed weight is never below `LEAST`, so no pick divides by zero or
takes the log of zero, however small the configured weights.
"""

from __future__ import annotations

from ._health import SlowStart
from ._member import Member

__all__ = ["LEAST", "PENALISED", "weighed", "weight"]

PENALISED = 0.01
"""The weight of a penalised member: its cost counts a hundred times."""

LEAST = 1e-300
"""The least weight a member has: products of tiny weights round to it, not to 0."""


def weight(member: Member, now: float, slow_start: SlowStart | None) -> float:
    """``member``'s weight at ``now``: 1 unless it ramps up or is penalised."""
    result = 1.0
    if slow_start is not None and member.ramp_until > now:
        result = slow_start.weight(now - member.joined)
    if member.penalised_until > now:
        result *= PENALISED
    return result if result > LEAST else LEAST


def weighed(member: Member, now: float) -> bool:
    """Whether ``member`` may weigh less than 1 at ``now`` (cheap: two comparisons)."""
    return member.ramp_until > now or member.penalised_until > now
