"""`Member`: one address of a pool, and the state of its endpoint.

A member lives from the update that adds its ``(address, target)`` to the one that
removes or changes it; its endpoint object may be made several times over that life
(re-created after each failure). The member carries what picking and accounting read on
every call, in one compact object: its load tracker, its state and place in the ready
list, the calls in flight on its current endpoint, and what its endpoint offers.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs
import trio

from ._load import LoadTracker

__all__ = ["EndpointState", "Member"]


class EndpointState(enum.Enum):
    """Where a member's endpoint is on its way to readiness."""

    NEW = "new"
    """In the pool; its endpoint is not made yet (a large update makes them in batches)."""
    PENDING = "pending"
    """Its readiness is awaited."""
    READY = "ready"
    """In the ready list, from which the pool's policy picks."""
    BOUND = "bound"
    """A call was just bound to it; its ``ready()`` is awaited again next, in the task of
    the caller whose request was bound, before that request is sent."""
    BACKING_OFF = "backing off"
    """Its endpoint failed; it is made anew after a backoff."""
    EVICTED = "evicted"
    """Removed from the pool, or replaced by a member with a new target."""
    EJECTED = "ejected"
    """Ejected as an outlier: out of the ready list unless the pool is in panic. Only
    statistics report it (for a member not backing off); the member's own state goes on
    as before."""


@attrs.define(eq=False, slots=True)
class Member:
    """One address of the pool; mutated only by the pool's parts, never by users."""

    address: Any
    target: Any
    load: LoadTracker
    joined: float
    """When the member joined the pool (Trio time)."""
    endpoint: Any = None
    """The current endpoint object, or ``None`` while there is none (new, backing off)."""
    state: EndpointState = EndpointState.NEW
    index: int = -1
    """Its place in the ready list while ready."""
    calls: int = 0
    """Calls in flight on the current endpoint."""
    nowait: bool = False
    """Whether the endpoint offers ``ready_nowait()``."""
    leased: bool = False
    """Whether the endpoint offers ``call_leased()``."""
    inline: bool = True
    """Whether its ``ready()`` is awaited in a caller's task after a call: until it once
    blocked there, after which a task of the pool's awaits it."""
    failures: int = 0
    """Readiness failures in a row."""
    retry_at: float = 0.0
    """While backing off: when it is made anew."""
    scope: trio.CancelScope | None = None
    """The cancel scope of its readiness wait, while one blocks."""
    last_error: BaseException | None = None
    """The last error its endpoint raised in readiness (or its factory), if any."""
    withheld: bool = False
    """Kept out of the ready list whatever its readiness (an ejected outlier)."""
    ramp_until: float = 0.0
    """Slow start: until when its share ramps up (0: not slowed)."""
    # Outlier detection's counts (see Health).
    consecutive_failures: int = 0
    interval_calls: int = 0
    interval_failures: int = 0
    multiplier: int = 0
    ejected: bool = False
    ejected_until: float = 0.0
    unfit: int = 0
    """Why it is not eligible, for the panic threshold: bits of `Health`'s."""
    penalised_until: float = 0.0
    """Until when (Trio time) its endpoint asked for no more calls (a ``Retry-After``):
    the pool prefers the others until then."""
    call_failures: int = 0
    """Calls that failed in a row (an error, or an answer counted as a failure)."""
    last_call_error: BaseException | None = None
    """The error of its last failed call, if it raised one."""
