"""`RetryBudget`: how many retries a destination may send, after Finagle's retry budget.

A fixed number of retries per request (``attempts=3``) multiplies the load on a
destination that is failing by that number, just when it can least take it: a retry
storm. A budget bounds retries to a share of the requests instead. Finagle's semantics
(``RetryBudget(ttl, minRetriesPerSec, percentCanRetry)``):

- each request *deposits* ``percent`` of a retry, which expires ``ttl`` seconds later;
- a retry *withdraws* one whole retry, or is refused when the balance has none;
- a *reserve* of ``min_per_second`` retries per second is always there on top, so that a
  destination with little traffic (or just started) can still retry at all.

Withdrawals expire after ``ttl`` as deposits do, so over any ``ttl`` seconds at most
``percent`` of the requests plus ``min_per_second * ttl`` retries are sent: with every
endpoint failing, each request costs ``1 + percent`` calls, plus what the reserve adds.

The balance is kept in integer micro-retries over a ring of ten slices of ``ttl / 10``
seconds (Finagle's windowed adder): exact, O(1) in time and memory whatever the rate,
and an amount expires between ``0.9 * ttl`` and ``ttl`` after it was counted. Time is
Trio's, so ``MockClock`` drives it in tests.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = ["BudgetAccount", "RetryBudget"]

# Amounts are counted in millionths of a retry: deposits of any percent are exact to that.
_ONE_RETRY = 1_000_000
_SLICES = 10


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def _ttl(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    ttl = _number(attribute.name, value)
    if not 1.0 <= ttl <= 60.0:
        raise ValueError(f"ttl must be between 1 and 60 seconds, got {value!r}")


def _min_per_second(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    rate = _number(attribute.name, value)
    if not (rate >= 0 and math.isfinite(rate)):
        raise ValueError(f"min_per_second must be a finite number >= 0, got {value!r}")


def _percent(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    percent = _number(attribute.name, value)
    if not 0.0 <= percent <= 10.0:
        raise ValueError(
            f"percent must be between 0 and 10 (0 to 1000 % of the requests), got {value!r}"
        )


@attrs.frozen
class RetryBudget:
    """How many retries a destination may send: a share of its requests, plus a reserve.

    Each request deposits ``percent`` of a retry (``0.2``: one retry per five requests),
    kept for ``ttl`` seconds; a retry withdraws one or is refused. On top, a reserve of
    ``min_per_second`` retries per second lets a destination with little traffic retry
    too. ``RetryBudget(percent=0, min_per_second=0)`` refuses every retry.

    This is configuration: the balance itself is kept by each queue the budget is given
    to (through `RetryPolicy` or `Hedging`), one per destination, so sharing one policy
    between queues (the httpx transport's authorities, say) never lets one destination
    spend another's retries.

    Args:
        ttl: seconds a deposit (and a withdrawal) counts, 1 to 60 as in Finagle.
        min_per_second: retries per second allowed whatever the traffic (>= 0).
        percent: retries each request earns, a fraction from 0 to 10 (0 to 1000 %).

    Raises:
        TypeError, ValueError: an argument is not a number, or out of its range.
    """

    ttl: float = attrs.field(default=10.0, validator=_ttl)
    min_per_second: float = attrs.field(default=10.0, validator=_min_per_second)
    percent: float = attrs.field(default=0.2, validator=_percent)

    def open_account(self, now: float) -> BudgetAccount:
        """A new balance under this budget at Trio time ``now``: what a queue keeps."""
        return BudgetAccount(self, now)


@attrs.define(eq=False, init=False)
class BudgetAccount:
    """The balance of one destination under a `RetryBudget`: deposits and withdrawals.

    Made by `RetryBudget.open_account`; every method takes Trio's time ``now``.
    """

    budget: RetryBudget
    _deposit: int
    _reserve: int
    _width: float
    _slices: list[int]
    _current: int
    """The index of the slice that ``_epoch`` counts into."""
    _epoch: int
    """The number of the current slice since time zero: ``floor(now / width)``."""
    _total: int
    """The sum of every slice: deposits minus withdrawals within the last ``ttl``."""

    def __init__(self, budget: RetryBudget, now: float) -> None:
        width = budget.ttl / _SLICES
        self.__attrs_init__(
            budget,
            round(budget.percent * _ONE_RETRY),
            round(budget.min_per_second * budget.ttl * _ONE_RETRY),
            width,
            [0] * _SLICES,
            0,
            math.floor(now / width),
            0,
        )

    def deposit(self, now: float) -> None:
        """A request was sent: earn ``percent`` of a retry for the next ``ttl`` seconds."""
        if self._deposit:
            self._advance(now)
            self._slices[self._current] += self._deposit
            self._total += self._deposit

    def try_withdraw(self, now: float) -> bool:
        """Take one retry if the balance has one; return whether it had."""
        self._advance(now)
        if self._total + self._reserve < _ONE_RETRY:
            return False
        self._slices[self._current] -= _ONE_RETRY
        self._total -= _ONE_RETRY
        return True

    def balance(self, now: float) -> float:
        """Retries that could be withdrawn now (fractions of one included)."""
        self._advance(now)
        return max(0, self._total + self._reserve) / _ONE_RETRY

    def _advance(self, now: float) -> None:
        epoch = math.floor(now / self._width)
        passed = epoch - self._epoch
        if passed <= 0:
            return  # within the current slice (or Trio's clock was read out of order)
        slices = self._slices
        if passed >= _SLICES:
            slices[:] = [0] * _SLICES
            self._total = 0
            self._current = (self._current + passed) % _SLICES
        else:
            current = self._current
            for _ in range(passed):
                current = (current + 1) % _SLICES
                self._total -= slices[current]
                slices[current] = 0
            self._current = current
        self._epoch = epoch
