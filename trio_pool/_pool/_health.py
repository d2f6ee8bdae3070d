"""Endpoint health: passive outlier ejection and slow start, for every balanced pool.

**Outlier detection** (`OutlierDetection`, after gRFC A50 and Envoy's outlier detection)
watches the outcome of every call, as the load tracker counts it (an error, a leased
call marked failed such as an HTTP 5xx; a cancelled or dropped call says nothing), and
*ejects* an endpoint that fails too often: it leaves the ready list, so no policy picks
it, but keeps its connections and its readiness. Two rules eject:

- *consecutive failures* (Envoy's ``consecutive_5xx``): the moment an endpoint's calls
  have failed ``consecutive_failures`` times in a row;
- *failure percentage*: every ``interval``, each endpoint that took at least
  ``min_requests`` calls in that interval, and failed more than ``failure_percentage``
  of them, worst first.

An ejection lasts ``min(base_ejection * multiplier, max(base_ejection, max_ejection))``,
where the endpoint's multiplier grows by one with each ejection and shrinks by one each
interval the endpoint stays in service without being ejected; it returns when that time
is up. At most ``max_ejected_percent`` of the endpoints are out at once, but at least one
may always be.

**The panic threshold** (Envoy's healthy panic threshold, Finagle's panic mode): health
only chooses *which* endpoint; it never makes a pool refuse work an endpoint could do.
While fewer than ``panic_threshold`` (by default half) of the endpoints are *eligible*,
that is neither ejected, nor penalised by a ``Retry-After`` (see `Lease`), nor backing
off after a failure, the pool is *in panic*: ejected endpoints stay in the ready list,
so the pool balances over every endpoint it can call. It says so: a log line on
entering and on leaving, the ``panic`` gauge, ``statistics().panic``. One endpoint
behind a name that fails five times in a row is so still called, as it would be with no
balancer.

**Slow start** (`SlowStart`, Envoy's): an endpoint that joins a pool that already had
members gets a share that ramps up over ``window`` seconds, as the weight
``max(min_weight, (age / window) ** (1 / aggression))``: P2C divides its cost by the
weight, round robin and random pass it by with probability ``1 - weight``. The pool's
first members are not slowed; nor can slow start help when every endpoint is new (there
is no one else to send the load to), as Envoy's documentation warns.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import attrs
import trio

from .._validate import positive
from ._member import Member
from ._metrics import PoolMetrics

__all__ = ["Health", "OutlierDetection", "SlowStart"]

logger = logging.getLogger("trio_pool.pool")


def _fraction(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number, got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must be a fraction between 0 and 1, got {value!r}")


def _at_least_a_millisecond(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0.001:
        raise ValueError(f"{attribute.name} must be at least 0.001 s, got {value!r}")


def _optional_fraction(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _fraction(instance, attribute, value)


def _count(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value!r}")


def _optional_count(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _count(instance, attribute, value)


@attrs.frozen
class OutlierDetection:
    """Passive outlier ejection, with gRFC A50's semantics; see the module documentation.

    ``OutlierDetection()`` ejects an endpoint after 5 failures in a row, for 30 s the
    first time, at most a tenth of the pool at once (but always at least one endpoint),
    and not while fewer than half of the endpoints are eligible (the panic threshold).
    Pass it as ``outlier=`` to any shipped pool.
    """

    consecutive_failures: int | None = attrs.field(default=5, validator=_optional_count)
    """Eject the moment this many calls in a row failed (``None``: never)."""
    failure_percentage: float | None = attrs.field(default=None, validator=_optional_fraction)
    """Eject, at each ``interval``, endpoints that failed more than this fraction of at
    least ``min_requests`` calls in it (``None``: never)."""
    interval: float = attrs.field(default=10.0, validator=[positive, _at_least_a_millisecond])
    """Seconds between two judgements of the failure percentage; each also shrinks the
    multiplier of the endpoints in service. At least 0.001: judging more often would
    keep the pool busy judging."""
    base_ejection: float = attrs.field(default=30.0, validator=positive)
    """Seconds an endpoint stays out, times its multiplier."""
    max_ejection: float = attrs.field(default=300.0, validator=positive)
    """The longest an ejection lasts (``base_ejection`` if that is longer)."""
    max_ejected_percent: float = attrs.field(default=0.1, validator=_fraction)
    """The fraction of the pool's endpoints that may be out at once; at least one may."""
    min_requests: int = attrs.field(default=50, validator=_count)
    """The calls an endpoint must have taken in an interval for its failure percentage to
    be judged."""
    panic_threshold: float | None = attrs.field(default=0.5, validator=_optional_fraction)
    """Envoy's healthy panic threshold: while fewer than this fraction of the endpoints
    are eligible (neither ejected, nor penalised by a ``Retry-After``, nor backing off
    after a failure), the pool balances over all of them, ejected ones included, rather
    than refuse work they could do. ``0`` or ``None``: never (ejected endpoints stay out
    whatever is left)."""

    def ejection_time(self, multiplier: int) -> float:
        """How long an ejection lasts for an endpoint whose multiplier is ``multiplier``."""
        return min(self.base_ejection * multiplier, max(self.base_ejection, self.max_ejection))

    def allowed(self, endpoints: int) -> int:
        """How many of ``endpoints`` may be out at once."""
        return max(1, math.floor(self.max_ejected_percent * endpoints))


@attrs.frozen
class SlowStart:
    """A new endpoint's share ramps up over ``window`` seconds; see the module documentation.

    Pass it as ``slow_start=`` to any shipped pool.
    """

    window: float = attrs.field(default=30.0, validator=positive)
    """Seconds until a new endpoint gets its full share."""
    aggression: float = attrs.field(default=1.0, validator=positive)
    """The ramp's curve: 1 is linear, more ramps up faster at first."""
    min_weight: float = attrs.field(default=0.1, validator=_fraction)
    """The least share a new endpoint gets, however new, from 0 to 1. With 0, an
    endpoint that has just joined takes a call only when no other can: a pick never
    weighs a member at less than 1e-300, so no weight divides by zero."""

    def weight(self, age: float) -> float:
        """The weight of an endpoint that joined ``age`` seconds ago (1 once the ramp is
        over)."""
        if age >= self.window:
            return 1.0
        if age <= 0:
            return self.min_weight
        ramp: float = (age / self.window) ** (1.0 / self.aggression)
        return max(self.min_weight, ramp)


# Why a member is not *eligible* (the bits of `Member.unfit`): what the panic threshold
# counts.
EJECTED = 1
PENALISED = 2
BACKING_OFF = 4


@attrs.define(eq=False)
class Health:
    """Judges a pool's members by their calls, and withholds the outliers.

    The pool tells it each call's end (`observe`), each ``Retry-After`` penalty
    (`penalise`), each member that starts or stops backing off (`backing_off`), each
    member that leaves (`forget`) and each change of membership (`resized`); it
    withholds and releases members through the two callbacks, which the pool points at
    its ready cache. `run` (under the pool's ``drive()``) judges each interval, returns
    ejected members when their time is up, and ends penalties.

    It keeps the *panic* state: while fewer than ``panic_threshold`` of the members are
    eligible (neither ejected, penalised nor backing off), ejected members are not
    withheld, so the pool balances over all of them.
    """

    _config: OutlierDetection
    _metrics: PoolMetrics
    _members: Callable[[], Iterable[Member]]
    _count: Callable[[], int]
    _withhold: Callable[[Member], None]
    _release: Callable[[Member], None]
    ejected: int = 0
    """Members out now (listed all the same while in panic)."""
    penalised: int = 0
    """Members penalised by a ``Retry-After`` now."""
    panic: bool = False
    """Whether too few members are eligible: ejected ones are not withheld."""
    _unfit: int = 0
    """Members that are not eligible, for any reason."""
    _out: set[Member] = attrs.field(factory=set)
    """The ejected members."""
    _returns: list[tuple[float, int, Member]] = attrs.field(factory=list)
    _penalties: list[tuple[float, int, Member]] = attrs.field(factory=list)
    _sequence: int = 0
    _wakeup: trio.Event = attrs.field(factory=trio.Event)

    def observe(self, member: Member, failed: bool, now: float) -> None:
        """A call on ``member`` ended, and failed or not."""
        member.interval_calls += 1
        if not failed:
            member.consecutive_failures = 0
            return
        member.interval_failures += 1
        member.consecutive_failures += 1
        limit = self._config.consecutive_failures
        if limit is not None and member.consecutive_failures >= limit and not member.ejected:
            self._eject(member, now, f"{member.consecutive_failures} failures in a row")

    def penalise(self, member: Member, until: float) -> None:
        """``member`` asked for no more calls until ``until`` (Trio time)."""
        if not member.unfit & PENALISED:
            self.penalised += 1
            self._metrics.penalised.set(self.penalised)
        self._mark(member, PENALISED)
        self._schedule(self._penalties, until, member)

    def backing_off(self, member: Member, backing_off: bool) -> None:
        """``member`` started (or stopped) backing off after a failure."""
        if backing_off:
            self._mark(member, BACKING_OFF)
        else:
            self._unmark(member, BACKING_OFF)

    def forget(self, member: Member) -> None:
        """``member`` left the pool: it no longer counts as out, nor at all."""
        if member.ejected:
            member.ejected = False
            self._out.discard(member)
            self.ejected -= 1
            self._metrics.ejected.set(self.ejected)
        if member.unfit & PENALISED:
            self.penalised -= 1
            self._metrics.penalised.set(self.penalised)
        if member.unfit:
            member.unfit = 0
            self._unfit -= 1
        self._judge_panic()

    def resized(self) -> None:
        """Members joined or left: the share of eligible ones changed."""
        self._judge_panic()

    async def run(self) -> NoReturn:
        """Judge every interval, return ejected members and end penalties on time,
        until cancelled."""
        interval = self._config.interval
        next_judgement = trio.current_time() + interval
        while True:
            now = trio.current_time()
            while self._returns and self._returns[0][0] <= now:
                _, _, member = heapq.heappop(self._returns)
                if member.ejected and member.ejected_until <= now:
                    self._return(member)
            while self._penalties and self._penalties[0][0] <= now:
                _, _, member = heapq.heappop(self._penalties)
                if member.unfit & PENALISED and member.penalised_until <= now:
                    self.penalised -= 1
                    self._metrics.penalised.set(self.penalised)
                    self._unmark(member, PENALISED)
            if now >= next_judgement:
                self._judge(now)
                next_judgement = now + interval
            deadline = min(
                next_judgement,
                self._returns[0][0] if self._returns else math.inf,
                self._penalties[0][0] if self._penalties else math.inf,
            )
            self._wakeup = trio.Event()
            with trio.move_on_at(deadline):
                await self._wakeup.wait()

    def _judge(self, now: float) -> None:
        config = self._config
        threshold = config.failure_percentage
        judged: list[tuple[float, Member]] = []
        for member in self._members():
            calls, failures = member.interval_calls, member.interval_failures
            member.interval_calls = member.interval_failures = 0
            if member.ejected:
                continue
            if threshold is not None and calls >= config.min_requests:
                rate = failures / calls
                if rate > threshold:
                    judged.append((rate, member))
                    continue
            if member.multiplier and now - member.ejected_until >= self._config.interval:
                member.multiplier -= 1  # a whole interval in service since it returned
        for rate, member in sorted(judged, key=lambda judged: -judged[0]):
            self._eject(member, now, f"{rate:.0%} of its calls failed")

    def _eject(self, member: Member, now: float, why: str) -> None:
        allowed = self._config.allowed(self._count())
        if self.ejected >= allowed:
            logger.info(
                "endpoint %r is an outlier (%s) but stays: %d of %d may be out at once",
                member.address,
                why,
                allowed,
                self._count(),
            )
            return
        member.ejected = True
        member.multiplier += 1
        member.consecutive_failures = 0
        duration = self._config.ejection_time(member.multiplier)
        member.ejected_until = now + duration
        self.ejected += 1
        self._out.add(member)
        self._schedule(self._returns, member.ejected_until, member)
        self._metrics.ejections.inc()
        self._metrics.ejected.set(self.ejected)
        logger.warning(
            "endpoint %r ejected for %g s (%s; ejection %d)",
            member.address,
            duration,
            why,
            member.multiplier,
        )
        self._mark(member, EJECTED)  # may start a panic, which keeps it listed
        if not self.panic:
            self._withhold(member)

    def _return(self, member: Member) -> None:
        member.ejected = False
        self.ejected -= 1
        self._out.discard(member)
        self._metrics.ejected.set(self.ejected)
        logger.info("endpoint %r back in service after its ejection", member.address)
        self._release(member)
        self._unmark(member, EJECTED)

    def _schedule(self, heap: list[tuple[float, int, Member]], when: float, member: Member) -> None:
        self._sequence += 1
        heapq.heappush(heap, (when, self._sequence, member))
        self._wakeup.set()

    # -- the panic threshold --------------------------------------------------------------

    def _mark(self, member: Member, reason: int) -> None:
        if not member.unfit:
            self._unfit += 1
        member.unfit |= reason
        self._judge_panic()

    def _unmark(self, member: Member, reason: int) -> None:
        if not member.unfit & reason:
            return
        member.unfit &= ~reason
        if not member.unfit:
            self._unfit -= 1
        self._judge_panic()

    def _judge_panic(self) -> None:
        threshold = self._config.panic_threshold
        if threshold is None:
            return
        total = self._count()
        eligible = total - self._unfit
        panic = eligible < threshold * total
        if panic is self.panic:
            return
        self.panic = panic
        self._metrics.panic.set(1 if panic else 0)
        if panic:
            self._metrics.panics.inc()
            logger.warning(
                "panic: %d of %d endpoints eligible (%d ejected, %d penalised by "
                "Retry-After, the rest backing off), below the threshold of %g: balancing "
                "over all of them, ejected ones included",
                eligible,
                total,
                self.ejected,
                self.penalised,
                threshold,
            )
            for member in self._out:
                self._release(member)
        else:
            logger.info(
                "panic over: %d of %d endpoints eligible; ejected ones are out again",
                eligible,
                total,
            )
            for member in self._out:
                self._withhold(member)
