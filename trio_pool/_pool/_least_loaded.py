"""`LeastLoaded`: the exact lowest-cost ready member, from a heap kept up to date.

P2C compares two random members, so when both are slow the call goes to a slow one
however good the rest are: with a quarter of the pool slow, one pick in sixteen. An
exact choice of the lowest cost has no such floor. Scanning the ready list for it costs
O(n) per pick; Finagle's heap balancer keeps the members in a heap by load instead, and
so does this policy (`LoadOrder`), in O(log n) per change and O(1) per pick.

A heap is exact only if the order of its keys cannot change while no key is touched.
Pending requests change only when a call starts or ends. A Peak-EWMA cost also decays
with time, but every estimate decays by the same factor over the same time, so the
order of two costs changes only when one's estimate or calls in flight change, that is
when a call starts or ends. Each tracker's ``key()`` is the log of its cost less a term
common to all (see `LoadTracker`), so the heap is re-keyed exactly when a call starts or
ends on a listed member, and only then (`indexed` wraps the load's trackers to say so).

What would break it, and how it is handled:

- Ties (all members new, or equal pending counts): the pick is drawn uniformly among
  the members of the lowest cost, anew each time (see `LoadOrder`).
- A member that fails fast: Peak-EWMA counts a failure as at least ``failure_penalty``
  seconds, so failing fast never looks fast; with `PendingRequests` it does (it has
  fewer calls in flight), which outlier detection is for.
- Failures, ejections, leases, endpoints without ``ready_nowait()``: the heap holds what
  the ready list holds, told by the ready cache of each member that joins or leaves it
  (`listed`, `unlisted`); a leased call's load ends when its lease is released.
- A retry that avoids endpoints it tried (``call_avoiding``) asks for the lowest of the
  others (`choose_avoiding`): the order is walked from its lowest bucket up until one
  holds a member not tried, which costs about a pick, since retries avoid few. Any
  other part of the ready list handed to `choose` is scanned, O(n).
- A ``Retry-After`` penalty divides a member's cost by `PENALISED` until it ends: its
  entry's key carries ``-log(PENALISED)`` from the moment it is listed penalised (a
  penalty that starts while a member is listed lists it anew), and the entry is
  re-keyed when the penalty ends, found in a heap of endings at the next pick.
- Slow start: a ramping member's cost is divided by a weight that grows with its age,
  which no stored key can follow. Members that joined together share their weight,
  so ramping members are kept in one heap per joining time, each compared through its
  lowest (``key - log(weight)``); a group joins the main heap when its ramp is over. A
  pick costs O(groups): the updates of one slow-start window, not the members.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Hashable, Sequence
from collections.abc import Set as AbstractSet
from typing import Protocol, cast

import attrs

from ._bound import CallOutcome
from ._health import SlowStart
from ._load import Load, LoadTracker
from ._member import Member
from ._order import LoadOrder, _Bucket
from ._weight import LEAST, PENALISED, weighed, weight

__all__ = ["LeastLoaded"]

# A penalised member's key: the log of its cost divided by PENALISED.
_PENALTY_OFFSET = -math.log(PENALISED)


class _KeyedTracker(LoadTracker, Protocol):
    def key(self) -> float: ...


class _Entry:
    """A member's load tracker, which re-keys its member in the policy's order as
    calls start and end; the order's entry for that member."""

    __slots__ = ("_inner", "bucket", "load_key", "member", "offset", "order", "slot")

    def __init__(self, inner: _KeyedTracker) -> None:
        self._inner = inner
        self.load_key = inner.key
        self.offset = 0.0
        """What a penalty adds to its key (``-log(PENALISED)``), else 0."""
        self.order: LoadOrder[_Entry] | None = None
        """The order it is in while its member is listed, else ``None``."""
        self.bucket: _Bucket | None = None
        self.slot = 0
        self.member: Member | None = None
        """Its member, from the first time it is listed on."""

    @property
    def in_flight(self) -> int:
        return self._inner.in_flight

    def cost(self, now: float) -> float:
        return self._inner.cost(now)

    def key(self) -> float:
        """Its key in the order: the load's, and a penalty's."""
        return self.load_key() + self.offset

    def start(self, now: float) -> None:
        self._inner.start(now)
        order = self.order
        if order is not None:
            order.rekey(self, self.load_key() + self.offset)

    def end(self, started: float, now: float, outcome: CallOutcome) -> None:
        self._inner.end(started, now, outcome)
        order = self.order
        if order is not None:
            order.rekey(self, self.load_key() + self.offset)


@attrs.frozen
class _IndexedLoad:
    """``load``, whose trackers keep the policy's order."""

    load: Load

    def tracker(self, now: float) -> LoadTracker:
        return _Entry(cast(_KeyedTracker, self.load.tracker(now)))


@attrs.define(eq=False)
class LeastLoaded:
    """The ready member of lowest cost (divided by its slow-start weight while it ramps
    up), ties broken at random. One instance per pool, whose load is `indexed`."""

    _rng: random.Random
    _slow_start: SlowStart | None = None
    _main: LoadOrder[_Entry] = attrs.field(factory=LoadOrder, init=False)
    _ramping: dict[float, LoadOrder[_Entry]] = attrs.field(factory=dict, init=False)
    """Members still ramping up, an order per end of ramp (that is, per joining time)."""
    _seen: float = attrs.field(default=0.0, init=False)
    """The time of the latest choice: a member whose ramp ends later ramps still."""
    _listed: int = attrs.field(default=0, init=False)
    """Members in the orders: the length of the ready list they mirror."""
    _penalties: list[tuple[float, int, _Entry]] = attrs.field(factory=list, init=False)
    """When the penalty of each entry listed penalised ends (stale ones are skipped)."""
    _sequence: int = attrs.field(default=0, init=False)

    @staticmethod
    def indexed(load: Load) -> Load:
        """``load``, with trackers that re-key their member as calls start and end.

        Raises ``TypeError`` if its trackers have no ``key()`` (see `LoadTracker`).
        """
        if not callable(getattr(load.tracker(0.0), "key", None)):
            raise TypeError(
                f"a least-loaded pool orders endpoints by their load's key(): the trackers of "
                f"{load!r} have none (PeakEwma and PendingRequests do; see LoadTracker)"
            )
        return _IndexedLoad(load)

    def listed(self, member: Member) -> None:
        """``member`` joined the ready list."""
        entry: _Entry = member.load  # type: ignore[assignment]
        entry.member = member
        if member.penalised_until > self._seen:
            entry.offset = _PENALTY_OFFSET
            self._sequence += 1
            heapq.heappush(self._penalties, (member.penalised_until, self._sequence, entry))
        else:
            entry.offset = 0.0
        order = self._main
        if member.ramp_until > self._seen:
            order = self._ramping.get(member.ramp_until) or self._ramping.setdefault(
                member.ramp_until, LoadOrder()
            )
        entry.order = order
        order.add(entry, entry.key())
        self._listed += 1

    def unlisted(self, member: Member) -> None:
        """``member`` left the ready list."""
        entry: _Entry = member.load  # type: ignore[assignment]
        order, entry.order = entry.order, None
        assert order is not None, "a member leaves the ready list only once"
        order.remove(entry)
        self._listed -= 1
        if not order and order is not self._main:
            del self._ramping[member.ramp_until]

    def choose(self, ready: Sequence[Member], now: float) -> Member:
        if len(ready) != self._listed:
            # Not the ready list but a part of it (a retry avoiding endpoints it tried):
            # the orders do not know that part, so it is scanned.
            return self._scan(ready, now)
        # The ready list, which the orders mirror: the orders alone are read.
        self._seen = now
        random_ = self._rng.random
        main = self._main
        if self._penalties and self._penalties[0][0] <= now:
            self._end_penalties(now)
        if self._ramping:
            self._end_ramps(now)
        if not self._ramping:
            return cast(Member, main.lowest(random_).member)
        # The lowest of the main order and of each ramping group, by weighted key; an
        # exact tie between them is drawn at random, each member as likely as the next.
        slow_start = cast(SlowStart, self._slow_start)
        best: list[LoadOrder[_Entry]] = [main] if main else []
        best_key = main.lowest_key if main else math.inf
        for group in self._ramping.values():
            joined = cast(Member, next(iter(group)).member).joined  # the group's, alike
            # Slow start's weight alone (a penalty is in the keys), no less than LEAST.
            key = group.lowest_key - math.log(max(slow_start.weight(now - joined), LEAST))
            if key < best_key or not best:
                best, best_key = [group], key
            elif key == best_key:
                best.append(group)
        chosen = best[0]
        if len(best) > 1:
            draw = int(random_() * sum(order.lowest_count for order in best))
            for chosen in best:
                draw -= chosen.lowest_count
                if draw < 0:
                    break
        return cast(Member, chosen.lowest(random_).member)

    def choose_avoiding(self, avoid: AbstractSet[Hashable], now: float) -> Member | None:
        """The lowest listed member whose address is not in ``avoid``: found in the
        order without a scan while no member ramps up (see `LoadOrder.lowest_where`);
        with ramping groups, the listed members are scanned."""
        self._seen = now
        if self._penalties and self._penalties[0][0] <= now:
            self._end_penalties(now)
        if self._ramping:
            self._end_ramps(now)
        if self._ramping:
            members = [
                cast(Member, entry.member)
                for order in (self._main, *self._ramping.values())
                for entry in order
                if cast(Member, entry.member).address not in avoid
            ]
            return self._scan(members, now) if members else None
        entry = self._main.lowest_where(
            lambda entry: cast(Member, entry.member).address not in avoid, self._rng.random
        )
        return None if entry is None else entry.member

    def _scan(self, members: Sequence[Member], now: float) -> Member:
        """The lowest cost of ``members`` (weighted), ties drawn at random, in O(n)."""
        slow_start = self._slow_start
        best: Member | None = None
        best_cost, tied = math.inf, 0
        for member in members:
            cost = member.load.cost(now)
            if weighed(member, now):
                cost /= weight(member, now, slow_start)
            if best is None or cost < best_cost:
                best, best_cost, tied = member, cost, 1
            elif cost == best_cost:
                tied += 1  # each of the tied replaces the best with chance 1/tied
                if self._rng.random() * tied < 1:
                    best = member
        assert best is not None, "a policy chooses from a non-empty list"
        return best

    def _end_penalties(self, now: float) -> None:
        """Re-key the listed entries whose penalty is over."""
        penalties = self._penalties
        while penalties and penalties[0][0] <= now:
            _, _, entry = heapq.heappop(penalties)
            member = entry.member
            if entry.order is None or not entry.offset or member is None:
                continue  # no longer listed, or listed anew since
            if member.penalised_until > now:
                # Penalised again while listed: it keeps its offset until then.
                self._sequence += 1
                heapq.heappush(penalties, (member.penalised_until, self._sequence, entry))
                continue
            entry.offset = 0.0
            entry.order.rekey(entry, entry.key())

    def _end_ramps(self, now: float) -> None:
        """Move the members whose ramp is over to the main order, for good."""
        main = self._main
        for ramp_until in [ramp_until for ramp_until in self._ramping if ramp_until <= now]:
            group = self._ramping.pop(ramp_until)
            for entry in list(group):
                group.remove(entry)
                entry.order = main
                main.add(entry, entry.key())
