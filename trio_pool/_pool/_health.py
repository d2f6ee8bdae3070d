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
    first time, at most a tenth of the pool at once (but always at least one endpoint).
    Pass it as ``outlier=`` to any shipped pool.
    """

    consecutive_failures: int | None = attrs.field(default=5, validator=_optional_count)
    """Eject the moment this many calls in a row failed (``None``: never)."""
    failure_percentage: float | None = attrs.field(default=None, validator=_optional_fraction)
    """Eject, at each ``interval``, endpoints that failed more than this fraction of at
    least ``min_requests`` calls in it (``None``: never)."""
    interval: float = attrs.field(default=10.0, validator=positive)
    """Seconds between two judgements of the failure percentage; each also shrinks the
    multiplier of the endpoints in service."""
    base_ejection: float = attrs.field(default=30.0, validator=positive)
    """Seconds an endpoint stays out, times its multiplier."""
    max_ejection: float = attrs.field(default=300.0, validator=positive)
    """The longest an ejection lasts (``base_ejection`` if that is longer)."""
    max_ejected_percent: float = attrs.field(default=0.1, validator=_fraction)
    """The fraction of the pool's endpoints that may be out at once; at least one may."""
    min_requests: int = attrs.field(default=50, validator=_count)
    """The calls an endpoint must have taken in an interval for its failure percentage to
    be judged."""

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
    """The least share a new endpoint gets, however new."""

    def weight(self, age: float) -> float:
        """The weight of an endpoint that joined ``age`` seconds ago (1 once the ramp is
        over)."""
        if age >= self.window:
            return 1.0
        if age <= 0:
            return self.min_weight
        ramp: float = (age / self.window) ** (1.0 / self.aggression)
        return max(self.min_weight, ramp)


@attrs.define(eq=False)
class Health:
    """Judges a pool's members by their calls, and withholds the outliers.

    The pool tells it each call's end (`observe`) and each member that leaves
    (`forget`); it withholds and releases members through the two callbacks, which
    the pool points at its ready cache. `run` (under the pool's ``drive()``) judges
    each interval and returns ejected members when their time is up.
    """

    _config: OutlierDetection
    _metrics: PoolMetrics
    _members: Callable[[], Iterable[Member]]
    _count: Callable[[], int]
    _withhold: Callable[[Member], None]
    _release: Callable[[Member], None]
    ejected: int = 0
    """Members out now."""
    _returns: list[tuple[float, int, Member]] = attrs.field(factory=list)
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

    def forget(self, member: Member) -> None:
        """``member`` left the pool: it no longer counts as out."""
        if member.ejected:
            member.ejected = False
            self.ejected -= 1
            self._metrics.ejected.set(self.ejected)

    async def run(self) -> NoReturn:
        """Judge every interval, return ejected members on time, until cancelled."""
        interval = self._config.interval
        next_judgement = trio.current_time() + interval
        while True:
            now = trio.current_time()
            while self._returns and self._returns[0][0] <= now:
                _, _, member = heapq.heappop(self._returns)
                if member.ejected and member.ejected_until <= now:
                    self._return(member)
            if now >= next_judgement:
                self._judge(now)
                next_judgement = now + interval
            deadline = min(next_judgement, self._returns[0][0] if self._returns else math.inf)
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
        self._sequence += 1
        heapq.heappush(self._returns, (member.ejected_until, self._sequence, member))
        self._wakeup.set()
        self._metrics.ejections.inc()
        self._metrics.ejected.set(self.ejected)
        logger.warning(
            "endpoint %r ejected for %g s (%s; ejection %d)",
            member.address,
            duration,
            why,
            member.multiplier,
        )
        self._withhold(member)

    def _return(self, member: Member) -> None:
        member.ejected = False
        self.ejected -= 1
        self._metrics.ejected.set(self.ejected)
        logger.info("endpoint %r back in service after its ejection", member.address)
        self._release(member)
