"""`RetryPolicy`: which outcomes are tried again, how often, how soon, within a budget.

A retry is a new attempt through the queue: it waits its turn like any request, obeys
the failfast gate, and, where the pool can tell (the shipped pools can: see
``call_avoiding`` in the `Pool` protocol), goes to an endpoint the request has not
tried yet. The queue runs the loop in the caller's task (`Resilience`); this module
holds the configuration and the decision.

What is never retried, whatever ``retry_on`` says: `FailFastError` (the pool has no
endpoint; trying again only queues more), `UnavailableError` (every endpoint is
failing), `PoolClosedError` (the queue is gone) and `DispatchTimeoutError` (the
request's own deadline for an endpoint passed), and anything that is not an
``Exception`` (``trio.Cancelled``, ``KeyboardInterrupt``). When a retry ends with one of
the queue's own errors, the caller gets the outcome of the attempt before it: what an
endpoint said, not what the queue said of a retry.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs

from .._backoff import Backoff
from .._errors import DispatchTimeoutError, FailFastError, PoolClosedError, UnavailableError
from ._budget import RetryBudget

__all__ = ["NEVER_RETRIED", "RetryPolicy", "default_backoff", "retry_errors"]

NEVER_RETRIED = (FailFastError, UnavailableError, PoolClosedError, DispatchTimeoutError)
"""The queue's own errors that no policy retries."""


def retry_errors(outcome: object) -> bool:
    """The default ``retry_on``: another try is worth it after an error, not a response."""
    return isinstance(outcome, Exception)


def default_backoff() -> Backoff:
    """Envoy's retry backoff: 25 ms doubling to 250 ms, with full jitter."""
    return Backoff(initial=0.025, maximum=0.25, multiplier=2.0, jitter=1.0)


def _budget(value: RetryBudget | None) -> RetryBudget:
    return RetryBudget() if value is None else value


def _backoff(value: Backoff | None) -> Backoff:
    return default_backoff() if value is None else value


def _attempts(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"attempts must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"attempts must be >= 1 (it counts the first try), got {value}")


def _callable_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{attribute.name} must be callable or None, got {value!r}")


def _rng(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, random.Random):
        raise TypeError(f"rng must be a random.Random or None, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """Try a request again when an attempt's outcome is worth it, within a budget.

    Given to `open_pool_queue` (``retry=RetryPolicy()``), it applies to every
    ``queue.call``. An attempt's *outcome* is its response or the exception it raised;
    ``retry_on(outcome)`` says whether another try is worth it. A retry waits the
    ``backoff`` delay, then goes through the queue again, to an endpoint the request has
    not tried yet where the pool can tell (the shipped pools can). When no attempt is
    left, ``retry_on`` says no, or the budget refuses, the caller gets the last
    attempt's outcome as it was: its response, or its exception, raised unwrapped. A
    retry that the queue could not send (its own errors: every endpoint failing, a
    dispatch timeout; or, with ``distinct_endpoints``, no other endpoint ready) is not
    that outcome: the caller gets the last one an endpoint gave, the response of which
    is kept open until the retry is sent. A queue that closes while a call waits its
    backoff (a caller outliving the block) ends the wait: the call gets that outcome at
    once.

    `FailFastError`, `PoolClosedError` and `DispatchTimeoutError` are never retried,
    nor is anything but an ``Exception`` (``trio.Cancelled`` above all). A response
    that is retried is closed first if it has ``aclose()`` (an httpx response does).

    Args:
        attempts: tries in all, the first one included (``1``: no retries).
        budget: the `RetryBudget` that every retry draws from; ``None`` gives the policy
            a ``RetryBudget()`` of its own. Each queue keeps its own balance under it.
        backoff: the delay before the n-th retry, a `Backoff` on Trio's clock
            (``None``: 25 ms doubling to 250 ms, with full jitter, as Envoy's).
            ``Backoff(initial=0, maximum=0)`` retries at once.
        retry_on: ``retry_on(outcome) -> bool``, called with one argument; by default
            any ``Exception`` is worth another try and a response is not.
        replayable: ``replayable(request) -> bool``, asked before each retry; ``False``
            keeps the last outcome (a request whose body cannot be sent again, say).
            ``None``: every request can be sent again.
        retry_after: ``retry_after(outcome) -> float | None``, asked for an outcome that
            is retried: the seconds it asks the retry to wait at least (a server's
            ``Retry-After``); the retry waits the longer of that and the backoff.
            ``None``: only the backoff.
        rng: the randomness of the backoff's jitter (``None``: a ``random.Random()``
            per queue), for reproducible runs.
        distinct_endpoints: send a retry only to an endpoint the request has not
            tried (the pool binds it to one where another is ready now, see
            ``call_avoiding``); a retry that could only go back to one already tried
            is not sent, and the caller gets the last outcome. ``False``: a retry
            prefers an endpoint not tried, and goes back to one if it must. With a pool
            that cannot tell where a request went, retries are sent either way.
    """

    attempts: int = attrs.field(default=3, kw_only=True, validator=_attempts)
    budget: RetryBudget = attrs.field(
        default=None,
        kw_only=True,
        converter=_budget,
        validator=attrs.validators.instance_of(RetryBudget),
    )
    backoff: Backoff = attrs.field(
        default=None,
        kw_only=True,
        converter=_backoff,
        validator=attrs.validators.instance_of(Backoff),
    )
    retry_on: Callable[[Any], bool] = attrs.field(
        default=retry_errors, kw_only=True, validator=attrs.validators.is_callable()
    )
    replayable: Callable[[Any], bool] | None = attrs.field(
        default=None, kw_only=True, validator=_callable_or_none
    )
    retry_after: Callable[[Any], float | None] | None = attrs.field(
        default=None, kw_only=True, validator=_callable_or_none
    )
    rng: random.Random | None = attrs.field(
        default=None, kw_only=True, validator=_rng, eq=False, repr=False
    )
    distinct_endpoints: bool = attrs.field(
        default=False, kw_only=True, validator=attrs.validators.instance_of(bool)
    )
