"""Policies: how a balanced pool chooses among its ready members.

A policy sees only the ready list (see `ReadyCache`) and each member's load; membership,
readiness and accounting are the pool's. Each choice must cost O(1), whatever the pool
size, and randomness comes from the ``random.Random`` the pool was given.

- `PowerOfTwoChoices`: pick two distinct ready members at random and take the one with
  the lower load (Mitzenmacher, "The Power of Two Choices in Randomized Load
  Balancing"; tower's ``balance::p2c``, Linkerd's P2C pool). Two random choices keep the
  maximum load exponentially closer to the mean than one, at O(1) per pick: no sorting,
  no scan. Ties go to the first pick, which is itself random.
- `RoundRobin`: the next ready member in turn. The turn follows the ready list, which
  changes as endpoints come and go, so the order is fair over time rather than a fixed
  cycle of addresses.
- `UniformRandom`: one ready member, uniformly at random.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

import attrs

from ._member import Member

__all__ = ["Policy", "PowerOfTwoChoices", "RoundRobin", "UniformRandom", "distinct_pair"]


class Policy(Protocol):
    """Chooses one member of a non-empty ready list, at Trio time ``now``."""

    def choose(self, ready: Sequence[Member], now: float) -> Member: ...


def distinct_pair(rng: random.Random, n: int) -> tuple[int, int]:
    """Two distinct indexes below ``n`` (>= 2), uniformly at random, in random order."""
    first = int(rng.random() * n)
    second = int(rng.random() * (n - 1))
    if second >= first:
        second += 1
    return first, second


@attrs.define(eq=False)
class PowerOfTwoChoices:
    """The lower load of two distinct random ready members."""

    _rng: random.Random

    def choose(self, ready: Sequence[Member], now: float) -> Member:
        n = len(ready)
        if n == 1:
            return ready[0]
        random_ = self._rng.random
        first = int(random_() * n)
        second = int(random_() * (n - 1))
        if second >= first:
            second += 1
        a, b = ready[first], ready[second]
        return a if a.load.cost(now) <= b.load.cost(now) else b


@attrs.define(eq=False)
class RoundRobin:
    """Each choice the next ready member in turn."""

    _cursor: int = 0

    def choose(self, ready: Sequence[Member], now: float) -> Member:
        self._cursor = cursor = (self._cursor + 1) % len(ready)
        return ready[cursor]


@attrs.define(eq=False)
class UniformRandom:
    """Each choice one ready member, uniformly at random."""

    _rng: random.Random

    def choose(self, ready: Sequence[Member], now: float) -> Member:
        return ready[int(self._rng.random() * len(ready))]
