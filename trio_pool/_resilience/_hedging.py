"""`Hedging`: send the same request to another endpoint when the first is slow.

After Dean and Barroso, "The Tail at Scale" (CACM, 2013): most of a service's tail
latency comes from a few requests that stall on one server (a pause, a queue, a slow
disk). Sending a second copy of a request once the first has been out longer than most
requests take, and keeping whichever answers first, cuts that tail for a few percent
more requests; a hedge after the 95th percentile is sent for at most one request in
twenty. A budget of its own (`RetryBudget`, by default 10 % of the requests) keeps
hedges from doubling the load of a destination that is slow for everyone.

How the copies race is `Race`'s business; this module holds the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from ._budget import RetryBudget

__all__ = ["Hedging"]


def _budget(value: RetryBudget | None) -> RetryBudget:
    return RetryBudget(percent=0.1) if value is None else value


def _delay(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"delay must be a number of seconds or None, got {value!r}")
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"delay must be a finite number of seconds >= 0, got {value!r}")


def _percentile(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"percentile must be a number, got {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"percentile must be between 0 and 1 (exclusive), got {value!r}")


def _max_attempts(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_attempts must be an int, got {value!r}")
    if value < 2:
        raise ValueError(
            f"max_attempts must be >= 2 (it counts the first copy); got {value}; "
            "for no hedging, pass hedging=None"
        )


def _callable_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{attribute.name} must be callable or None, got {value!r}")


@attrs.frozen
class Hedging:
    """Send a request to another endpoint as well when no answer came soon enough.

    Given to `open_pool_queue` (``hedging=Hedging()``), it applies to every
    ``queue.call``: when no answer came within ``delay`` seconds of the call, the same
    request goes through the queue again, to an endpoint not already serving it where
    the pool can tell, and so on every ``delay`` up to ``max_attempts`` copies. The
    first successful answer wins and the other copies are cancelled, all within the
    caller's task (a nursery of its own), so no copy outlives the call. An error, or a
    response the queue's `RetryPolicy` would retry, does not win: the race waits for
    the other copies, and if none succeeds, the last of them is the outcome (which the
    retry policy may then retry).

    With ``delay=None`` the delay is the queue's recent ``percentile`` latency: of the
    last successful copies (1,000 to 10,000 kept, more for a higher percentile), from
    when each was sent to its answer, once ten of them lie above the percentile (200
    copies for the 95th, 10,000 for the 99.9th); no copy is hedged before that. A
    percentile above 0.999 cannot have ten above it in the 10,000 kept: it is the
    highest of them, from the 10,000th copy on. The delay is at least 1 ms.

    Args:
        delay: seconds without an answer before the next copy, or ``None``.
        percentile: with ``delay=None``, the latency percentile to wait (0 to 1).
        max_attempts: copies of one request in all, the first included (>= 2).
        budget: the `RetryBudget` hedges draw from, apart from retries; ``None`` gives
            a ``RetryBudget(percent=0.1)`` of its own. Each queue keeps its balance.
        replayable: ``replayable(request) -> bool``: whether the request may be sent
            twice at once (idempotent, with a body that can be sent again); ``None``:
            every request may.
    """

    delay: float | None = attrs.field(default=None, kw_only=True, validator=_delay)
    percentile: float = attrs.field(default=0.95, kw_only=True, validator=_percentile)
    max_attempts: int = attrs.field(default=2, kw_only=True, validator=_max_attempts)
    budget: RetryBudget = attrs.field(
        default=None,
        kw_only=True,
        converter=_budget,
        validator=attrs.validators.instance_of(RetryBudget),
    )
    replayable: Callable[[Any], bool] | None = attrs.field(
        default=None, kw_only=True, validator=_callable_or_none
    )
