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

A member weighs less while it ramps up (`SlowStart`) or is penalised by a
``Retry-After`` (see `weight`): P2C divides its cost by its weight; round robin and
random pass it by with probability ``1 - weight``.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from collections.abc import Set as AbstractSet
from typing import Protocol, runtime_checkable

import attrs

from ._health import SlowStart
from ._member import Member
from ._weight import weight

__all__ = [
    "ListingPolicy",
    "Policy",
    "PowerOfTwoChoices",
    "RoundRobin",
    "UniformRandom",
    "distinct_pair",
]


class Policy(Protocol):
    """Chooses one member of a non-empty ready list, at Trio time ``now``."""

    def choose(self, ready: Sequence[Member], now: float) -> Member: ...


@runtime_checkable
class ListingPolicy(Policy, Protocol):
    """A policy that keeps an index of its own over the ready list (`LeastLoaded`'s
    heap): the pool tells it of each member that joins the list or leaves it."""

    def listed(self, member: Member) -> None: ...

    def unlisted(self, member: Member) -> None: ...

    def choose_avoiding(self, avoid: AbstractSet[Hashable], now: float) -> Member | None:
        """The member it would choose from the ready list, leaving out those whose
        address is in ``avoid`` (a retry's tried endpoints); ``None`` if that leaves
        none. Its index finds it without a scan of the list."""
        ...


def distinct_pair(rng: random.Random, n: int) -> tuple[int, int]:
    """Two distinct indexes below ``n`` (>= 2), uniformly at random, in random order."""
    first = int(rng.random() * n)
    second = int(rng.random() * (n - 1))
    if second >= first:
        second += 1
    return first, second


@attrs.define(eq=False)
class PowerOfTwoChoices:
    """The lower load of two distinct random ready members, each divided by its weight
    (see `weight`)."""

    _rng: random.Random
    _slow_start: SlowStart | None = None

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
        cost_a, cost_b = a.load.cost(now), b.load.cost(now)
        # weighed() written out: this runs on every pick.
        if a.ramp_until > now or a.penalised_until > now:
            cost_a /= weight(a, now, self._slow_start)
        if b.ramp_until > now or b.penalised_until > now:
            cost_b /= weight(b, now, self._slow_start)
        return a if cost_a <= cost_b else b


@attrs.define(eq=False)
class RoundRobin:
    """Each choice the next ready member in turn (passing a member by with probability
    ``1 - weight``)."""

    _rng: random.Random
    _slow_start: SlowStart | None = None
    _cursor: int = 0

    def choose(self, ready: Sequence[Member], now: float) -> Member:
        n = len(ready)
        for _ in range(_TRIES):
            self._cursor = cursor = (self._cursor + 1) % n
            member = ready[cursor]
            if _accepted(member, now, self._slow_start, self._rng):
                return member
        return member


@attrs.define(eq=False)
class UniformRandom:
    """Each choice one ready member, uniformly at random (passing a member by with
    probability ``1 - weight``)."""

    _rng: random.Random
    _slow_start: SlowStart | None = None

    def choose(self, ready: Sequence[Member], now: float) -> Member:
        random_ = self._rng.random
        for _ in range(_TRIES):
            member = ready[int(random_() * len(ready))]
            if _accepted(member, now, self._slow_start, self._rng):
                return member
        return member


# How many members a weighted choice passes by at most before it takes the last one:
# when every member ramps up (all new), someone must take the call all the same.
_TRIES = 8


def _accepted(member: Member, now: float, slow_start: SlowStart | None, rng: random.Random) -> bool:
    if member.ramp_until <= now and member.penalised_until <= now:
        return True
    return rng.random() < weight(member, now, slow_start)
