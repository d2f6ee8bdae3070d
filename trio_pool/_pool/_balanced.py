"""`BalancedPool`: membership, over a ready cache, choosing with a policy.

The pool owns membership: which ``(address, target)`` pairs it holds, the diff of each
update, and evicting what leaves. It holds the parts that do the rest, and reads none
of their private state:

- a `ReadyCache`: the readiness of its members (the ready list, pending waits, backoff);
- a policy (`PowerOfTwoChoices`, `RoundRobin`, `UniformRandom`, `LeastLoaded`) that
  picks among the ready, passed in rather than subclassed in (a `ListingPolicy` is told
  of each member that joins or leaves the ready list);
- `CallAccounting`: calls bound and counted until they end;
- a `Retirer`: endpoints out of service drain, then close.

An update is applied whole, synchronously, the moment it arrives: after ``reset_pool``
returns, the pool holds exactly the new set, and no evicted endpoint can be picked. The
diff is computed before anything changes, so a target whose ``__eq__`` raises leaves the
pool as it was. Making the endpoints of a large update is spread over the following
ticks (see `ReadyCache.join`): a member not made yet is simply not ready yet.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Coroutine, Hashable, Iterable
from collections.abc import Set as AbstractSet
from typing import Any, Generic, NoReturn, TypeVar

import attrs
import trio

from .._backoff import Backoff
from .._update import _endpoint_pairs
from ._call import CallAccounting, PoolCall
from ._health import Health, OutlierDetection, SlowStart
from ._load import Load
from ._member import EndpointState, Member
from ._membership import ABSENT, Membership
from ._metrics import PoolMetrics
from ._policy import ListingPolicy, Policy
from ._protocol import Endpoint
from ._ready_cache import ReadyCache
from ._retire import Retirer
from ._runner import Runner
from ._weight import weight

__all__ = ["BalancedPool", "EndpointStatistics", "PoolStatistics"]

Addr = TypeVar("Addr", bound=Hashable)
T = TypeVar("T")
Req = TypeVar("Req")
Rsp = TypeVar("Rsp")

logger = logging.getLogger("trio_pool.pool")

# The new endpoints of one update made at once, the rest over the next ticks: small
# updates are ready as soon as they are applied, large ones do not stall the loop.
_MAKE_AT_ONCE = 64
# How long one endpoint's aclose(), or the pool's close, may take.
CLOSE_GRACE = 5.0
# Picks from the whole ready list before call_avoiding() lists the members to choose from.
_AVOIDING_DRAWS = 3


@attrs.frozen
class PoolStatistics:
    """A snapshot of a pool, from ``pool.statistics()``."""

    endpoints: int
    """Endpoints in the pool, whatever their state."""
    ready: int
    """Endpoints in the ready list."""
    pending: int
    """Endpoints on their way to ready: being made, or their readiness awaited."""
    backing_off: int
    """Endpoints whose readiness failed, waiting to be made anew."""
    in_flight: int
    """Calls bound and not yet ended."""
    updates: int
    """Membership changes applied (resets, adds and removes that changed something)."""
    draining: int = 0
    """Endpoints out of service, waiting for their calls to end before they close."""
    last_error: BaseException | None = None
    """The last error an endpoint (or the factory) raised in readiness, if any."""
    ejected: int = 0
    """Endpoints ejected as outliers (with ``outlier=``), whatever their readiness: out
    of the ready list, unless the pool is in panic."""
    penalised: int = 0
    """Endpoints whose answer asked for no more calls for a while (a ``Retry-After``):
    weighed down until then, never withdrawn."""
    panic: bool = False
    """Whether too few endpoints are eligible (see `OutlierDetection.panic_threshold`)
    and the pool balances over all of them, ejected ones included."""

    def describe(self) -> str:
        """The counts in words, as errors and logs quote them."""
        if not self.endpoints:
            return "the pool has no endpoints"
        parts = [f"{self.ready} ready", f"{self.pending} pending"]
        if self.backing_off:
            parts.append(f"{self.backing_off} backing off")
        if self.ejected:
            parts.append(f"{self.ejected} ejected")
        if self.penalised:
            parts.append(f"{self.penalised} penalised by Retry-After")
        noun = "endpoint" if self.endpoints == 1 else "endpoints"
        described = f"{self.endpoints} {noun} ({', '.join(parts)})"
        if self.panic:
            described += ", in panic"
        if self.last_error is not None:
            described += f"; last endpoint error: {self.last_error!r}"
        return described


@attrs.frozen
class EndpointStatistics:
    """One endpoint of a pool, from ``pool.endpoint_statistics()``."""

    address: Any
    target: Any
    state: EndpointState
    load: float
    """Its load tracker's cost now (lower is better)."""
    in_flight: int
    """Calls in flight on its current endpoint object."""
    failures: int
    """Readiness failures in a row."""
    last_error: BaseException | None
    """The last error its endpoint raised in readiness, if any."""
    ejected_until: float | None = None
    """While it is ejected as an outlier: until when (Trio time); else ``None``."""
    weight: float = 1.0
    """Its weight now: below 1 while its share ramps up (slow start) or a
    ``Retry-After`` penalises it."""
    penalised_until: float | None = None
    """While a ``Retry-After`` penalises it: until when (Trio time); else ``None``."""
    call_failures: int = 0
    """Calls that failed in a row: errors, and answers counted as failures (an HTTP
    5xx); what outlier detection judges."""
    last_call_error: BaseException | None = None
    """What its last failed call raised, or why its answer counted as a failure."""


@attrs.define(eq=False, init=False)
class BalancedPool(Generic[Addr, T, Req, Rsp]):
    """A `trio_pool.Pool` that balances over the endpoints ``new_endpoint`` makes.

    The shipped pools (`P2CPool`, `LeastLoadedPool`, `RoundRobinPool`, `RandomPool`) are
    balanced pools with a policy each. Besides the protocol it offers ``ready_nowait()``
    (so the queue can bind a call in the caller's task), ``call_avoiding()`` (so a retry
    or a hedge goes to an endpoint its request has not tried), ``members()``,
    ``statistics()`` and ``endpoint_statistics()``.
    """

    _load: Load
    _policy: Policy
    _metrics: PoolMetrics
    _runner: Runner
    _cache: ReadyCache
    _retirer: Retirer
    _accounting: CallAccounting
    _membership: Membership[Addr, T] = attrs.field(factory=Membership)
    _making: bool = False
    """Whether the runner has a job queued that makes planned members."""
    _health: Health | None = None
    _slow_start: SlowStart | None = None
    _selected: Member | None = None
    _selected_at: float = 0.0
    _updates: int = 0
    _driving: bool = False

    def __init__(
        self,
        new_endpoint: Callable[[Addr, T], Endpoint[Req, Rsp]],
        policy: Policy,
        *,
        load: Load,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        metrics: PoolMetrics | None = None,
        outlier: OutlierDetection | None = None,
        slow_start: SlowStart | None = None,
    ) -> None:
        if not callable(new_endpoint):
            raise TypeError(f"new_endpoint must be callable, got {new_endpoint!r}")
        if metrics is None:
            metrics = PoolMetrics.disabled()
        elif not isinstance(metrics, PoolMetrics):
            raise TypeError(
                f"metrics must come from PoolMetricFamilies.labels(), got {type(metrics).__name__}"
            )
        if outlier is not None and not isinstance(outlier, OutlierDetection):
            raise TypeError(f"outlier must be an OutlierDetection, got {outlier!r}")
        if slow_start is not None and not isinstance(slow_start, SlowStart):
            raise TypeError(f"slow_start must be a SlowStart, got {slow_start!r}")
        # One runner for the pool's waits: readiness and closes alike.
        runner = Runner("trio_pool")
        retirer = Retirer(runner, CLOSE_GRACE)
        membership: Membership[Addr, T] = Membership()
        health: Health | None = None
        if outlier is not None:
            # Health withholds through the cache, which tells health of backoffs: each
            # needs the other, so health reaches the cache (made next) by name.
            health = Health(
                outlier,
                metrics,
                membership.made.values,
                membership.__len__,
                lambda member: cache.withhold(member),  # noqa: PLW0108 - made below
                lambda member: cache.release(member),  # noqa: PLW0108 - made below
            )
        cache = ReadyCache(
            new_endpoint,
            retirer,
            runner,
            backoff if backoff is not None else Backoff(),
            rng if rng is not None else random.Random(),
            metrics,
            health.backing_off if health is not None else _ignore_backoff,
        )
        if isinstance(policy, ListingPolicy):
            cache.listed, cache.unlisted = policy.listed, policy.unlisted
        accounting = CallAccounting(cache, retirer, health)
        self.__attrs_init__(
            load, policy, metrics, runner, cache, retirer, accounting, membership, health=health
        )
        self._slow_start = slow_start

    # -- membership -----------------------------------------------------------------------

    def reset_pool(self, endpoints: Iterable[tuple[Addr, T]]) -> None:
        """Hold exactly ``endpoints``: unchanged ``(address, target)`` pairs keep their
        endpoint and load estimate, changed targets are rebuilt, absent ones evicted.

        Raises ``TypeError`` / ``ValueError`` like `Reset` for malformed input, and
        whatever a target's ``__eq__`` raises, before anything changes.
        """
        pairs = _endpoint_pairs(endpoints)
        membership = self._membership
        made, planned = membership.made, membership.planned
        # The whole diff first: comparing targets runs their __eq__, which may raise.
        leaving: list[Member] = []
        unplanned: list[Addr] = []
        fresh: list[tuple[Addr, T]] = []  # addresses the pool does not hold
        changed: list[tuple[Addr, T]] = []  # addresses it holds with another target
        if not membership:
            # The first update, say: nothing to compare, and the pairs' addresses are
            # distinct already.
            fresh = list(pairs)
        else:
            wanted: dict[Addr, T] = dict(pairs)
            leaving = [member for address, member in made.items() if address not in wanted]
            unplanned = [address for address in planned if address not in wanted]
            for entry in wanted.items():
                address, target = entry
                member = made.get(address)
                current = member.target if member is not None else planned.get(address, ABSENT)
                if current is ABSENT:
                    fresh.append(entry)
                elif not _same(current, target):
                    changed.append(entry)
        if not (leaving or unplanned or fresh or changed):
            return
        # Slow start ramps up what joins a pool that keeps warm members, and nothing else.
        warm = len(membership) - len(leaving) - len(unplanned) - len(changed) > 0
        for member in leaving:
            self._evict(member)
        for address in unplanned:
            membership.unplan(address)
        now = self._accounting.now()
        for address, target in changed:
            self._join(address, target, now, warm)  # rebuilt now, as a single Add would be
        for address, target in fresh[:_MAKE_AT_ONCE]:
            self._join(address, target, now, warm)
        if len(fresh) > _MAKE_AT_ONCE:
            # Members of the pool from now on; their records are made over the next ticks.
            membership.plan(now, fresh[_MAKE_AT_ONCE:], warm)
            logger.debug("%d endpoints added, to be made in batches", len(fresh) - _MAKE_AT_ONCE)
            if not self._making:
                self._making = True
                self._runner.submit(self, None)
        self._changed()
        self._metrics.updates_reset.inc()

    def add_endpoint(self, address: Addr, target: T) -> None:
        """Add an endpoint, or rebuild it if ``address`` is present with another target."""
        # An unhashable address raises TypeError here, before anything changes.
        current = self._membership.target_of(address)
        if _same(current, target):
            return
        warm = len(self._membership) - (current is not ABSENT) > 0
        self._join(address, target, self._accounting.now(), warm)
        self._changed()
        self._metrics.updates_add.inc()

    def remove_endpoint(self, address: Addr) -> None:
        """Evict the endpoint at ``address``; an unknown address changes nothing."""
        member = self._membership.made.get(address)
        if member is not None:
            self._evict(member)
        elif not self._membership.unplan(address):
            return
        self._changed()
        self._metrics.updates_remove.inc()

    def _join(self, address: Addr, target: T, now: float, warm: bool) -> None:
        membership = self._membership
        old = membership.made.get(address)
        if old is not None:
            logger.debug("endpoint %r: target changed, rebuilding it", address)
            self._evict(old)
        else:
            membership.unplan(address)
            logger.debug("endpoint %r added", address)
        member = Member(address, target, self._load.tracker(now), now)
        self._ramp(member, now, warm)
        membership.made[address] = member
        self._cache.join(member)

    def _ramp(self, member: Member, joined: float, warm: bool) -> None:
        # Slow start: a member that joins a pool with warm members ramps up; the pool's
        # first members do not, as there is no one else to take the load.
        if self._slow_start is not None and warm:
            member.ramp_until = joined + self._slow_start.window

    def _evict(self, member: Member) -> None:
        del self._membership.made[member.address]
        logger.debug("endpoint %r evicted", member.address)
        if self._selected is member:
            self._selected = None
        if self._health is not None:
            self._health.forget(member)
        self._cache.leave(member)

    def _changed(self) -> None:
        self._updates += 1
        self._metrics.endpoints.set(len(self._membership))
        if self._health is not None:
            self._health.resized()

    # -- the runner's job: making planned members, a batch at a time ----------------------

    def start(self, _: None) -> Coroutine[Any, Any, None] | None:
        self._making = False
        if not self._membership.planned:
            return None
        return self._make_planned()

    def blocked(self, _: None, scope: trio.CancelScope) -> None:
        raise AssertionError("making members never waits")

    async def _make_planned(self) -> None:
        made, tracker, join = self._membership.made, self._load.tracker, self._cache.join
        count = 0
        for address, target, joined, warm in self._membership.take_planned(_MAKE_AT_ONCE):
            member = made[address] = Member(address, target, tracker(joined), joined)
            self._ramp(member, joined, warm)
            join(member)
            count += 1
        # Each endpoint made is a job's worth of work: endpoints ready at once (with
        # ready_nowait()) queue no readiness job after them, and batch after batch
        # would otherwise run in one tick.
        self._runner.charge(count)
        if self._membership.planned:
            # The next batch after the jobs this one queued: readiness goes first.
            self._making = True
            self._runner.submit(self, None)

    # -- the Pool protocol ----------------------------------------------------------------

    async def drive(self) -> NoReturn:
        """Bring endpoints to readiness and close retired ones, until cancelled."""
        if self._driving:
            raise RuntimeError("drive() is already running for this pool")
        self._driving = True
        self._accounting.use_clock(trio.lowlevel.current_clock())
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._runner.run, name="trio_pool runner")
                nursery.start_soon(self._cache.run, name="trio_pool backoff")
                if self._health is not None:
                    nursery.start_soon(self._health.run, name="trio_pool outliers")
        finally:
            self._driving = False
        raise AssertionError("unreachable: the pool's tasks returned")

    async def ready(self) -> None:
        """Return once an endpoint is selected for the next ``call``."""
        await trio.lowlevel.checkpoint()
        while not self._select():
            await self._cache.wait_changed()

    def failing(self) -> BaseException | None:
        """If every endpoint failed its latest try to become ready, none being ready or
        on its first try (gRPC's TRANSIENT_FAILURE): the last endpoint error; else
        ``None``. Some may be trying again after their backoff."""
        if self._membership.planned or not self._cache.failing:
            return None
        return self._cache.last_error

    async def ready_or_failing(self, *, retry_failed: bool = False) -> BaseException | None:
        """Return ``None`` once an endpoint is selected for the next ``call``, or, while
        no endpoint is ready, the last endpoint error as soon as every endpoint is
        failing (see `failing`), instead of waiting for one to recover.

        With ``retry_failed``, a pool that is failing when this is called first has
        every endpoint in backoff made anew at once, and waits for those tries (and any
        already under way): the last error only once they all failed again. A caller
        that arrives while endpoints are down so gets a try of its own, as it would
        with no balancer, rather than the outcome of an old one.
        """
        await trio.lowlevel.checkpoint()
        trying = False
        while not self._select():
            failure = self.failing()
            if failure is not None:
                if retry_failed and not trying:
                    trying = True
                    self._cache.retry_failed()
                if not trying or not self._cache.pending:
                    return failure
            retry_failed = False  # a pool that fails later fails this caller's try
            await self._cache.wait_changed()
        return None

    def ready_nowait(self) -> None:
        """Select an endpoint if one is ready now, else raise ``trio.WouldBlock``."""
        if not self._select():
            raise trio.WouldBlock

    def _select(self) -> bool:
        ready = self._cache.ready
        if not ready:
            return False
        now = self._accounting.now()
        choose = self._policy.choose
        check = self._cache.check
        while ready:
            member = choose(ready, now)
            # An endpoint with ready_nowait() stays listed between calls: ask it again.
            if member.nowait and not check(member):
                continue
            self._selected = member
            self._selected_at = now
            return True
        return False

    def call(self, request: Req) -> PoolCall[Rsp]:
        """Bind ``request`` to the endpoint that ``ready()`` selected."""
        member, self._selected = self._selected, None
        if member is None:
            raise RuntimeError("call() must follow a ready() that selected an endpoint")
        # Selecting and binding happen in one step, with no checkpoint between: the
        # time of the selection is the time of the bind.
        return self._accounting.bind(member, request, self._selected_at)

    def call_avoiding(
        self, request: Req, avoid: AbstractSet[Hashable]
    ) -> tuple[PoolCall[Rsp], Addr]:
        """`call`, but if the selected endpoint's address is in ``avoid`` and another
        endpoint is ready now, bind to one of those instead (chosen by the policy); return
        the call and the address it was bound to.

        The queue binds the retries and hedges of a request this way, with ``avoid`` the
        addresses it was sent to already: a retry prefers an endpoint not yet tried,
        never waits for one, and falls back to the selected endpoint.
        """
        member = self._selected
        if member is None:
            raise RuntimeError("call_avoiding() must follow a ready() that selected an endpoint")
        if avoid and member.address in avoid:
            other = self._choose_avoiding(avoid, member)
            if other is not None:
                member = other
        self._selected = None
        return self._accounting.bind(member, request, self._selected_at), member.address

    def ready_elsewhere(self, avoid: AbstractSet[Hashable]) -> bool:
        """Whether an endpoint is ready now whose address is not in ``avoid``: whether
        a retry that must go to an endpoint not tried yet has one to go to.

        Costs at most one look per avoided address, and one more.
        """
        return any(member.address not in avoid for member in self._cache.ready)

    def _choose_avoiding(self, avoid: AbstractSet[Hashable], selected: Member) -> Member | None:
        """A ready member whose address is not in ``avoid``, by the policy, or ``None``.

        A `ListingPolicy` finds it in its own index. Another policy chooses from the
        whole ready list first, a few times (O(1) each, and avoided addresses are few
        beside a large pool); then from the members it may choose, made once. An
        endpoint with ``ready_nowait()`` is asked, as `_select` does.
        """
        ready = self._cache.ready
        choose, check, now = self._policy.choose, self._cache.check, self._selected_at
        policy = self._policy
        if isinstance(policy, ListingPolicy):
            # Its index leaves the avoided out without a scan; a member that turns out
            # not ready leaves the list, and so the index, and the next one is chosen.
            while (member := policy.choose_avoiding(avoid, now)) is not None:
                if not member.nowait or check(member):
                    return member
            return None
        for _ in range(_AVOIDING_DRAWS):
            if len(ready) < 2:
                return None
            member = choose(ready, now)
            if member.address not in avoid and (not member.nowait or check(member)):
                return member
        others = [m for m in ready if m is not selected and m.address not in avoid]
        while others:
            member = choose(others, now)
            if not member.nowait or check(member):
                return member
            others.remove(member)  # check() took it out of the ready list
        return None

    async def aclose(self) -> None:
        """Evict every endpoint and close them all (see `Retirer`): calls still running
        get one grace period of 5 seconds to end, closing shares what is left of it."""
        self._membership.clear_plan()
        for member in list(self._membership.made.values()):
            self._evict(member)
        self._metrics.endpoints.set(0)
        await self._retirer.aclose()

    # -- what users may look at -----------------------------------------------------------

    def members(self) -> dict[Addr, T]:
        """A copy of the pool's membership: each address and its target."""
        return self._membership.targets()

    def statistics(self) -> PoolStatistics:
        """A snapshot of the pool's endpoints by state, calls in flight, updates applied."""
        cache = self._cache
        health = self._health
        now = trio.current_time()
        return PoolStatistics(
            endpoints=len(self._membership),
            ready=len(cache.ready),
            pending=cache.pending + len(self._membership.planned),
            backing_off=cache.backing_off,
            in_flight=self._accounting.in_flight,
            updates=self._updates,
            draining=self._retirer.draining,
            last_error=cache.last_error,
            ejected=health.ejected if health is not None else 0,
            penalised=(
                health.penalised
                if health is not None
                else sum(m.penalised_until > now for m in self._membership.made.values())
            ),
            panic=health is not None and health.panic,
        )

    def endpoint_statistics(self) -> tuple[EndpointStatistics, ...]:
        """A snapshot of each endpoint: state, load, calls in flight, failures."""
        now = trio.current_time()
        slow_start = self._slow_start
        made = [
            EndpointStatistics(
                address=member.address,
                target=member.target,
                state=(
                    EndpointState.EJECTED
                    if member.ejected and member.state is not EndpointState.BACKING_OFF
                    else member.state
                ),
                load=member.load.cost(now),
                in_flight=member.calls,
                failures=member.failures,
                last_error=member.last_error,
                ejected_until=member.ejected_until if member.ejected else None,
                weight=weight(member, now, slow_start),
                penalised_until=(member.penalised_until if member.penalised_until > now else None),
                call_failures=member.call_failures,
                last_call_error=member.last_call_error,
            )
            for member in self._membership.made.values()
        ]
        if not self._membership.planned:
            return tuple(made)
        fresh = self._load.tracker(now).cost(now)  # what a member's load starts at
        planned = [
            EndpointStatistics(address, target, EndpointState.NEW, fresh, 0, 0, None)
            for address, target in self._membership.planned.items()
        ]
        return (*made, *planned)


def _ignore_backoff(member: Member, backing_off: bool) -> None:
    pass


def _same(current: object, new: object) -> bool:
    if current is ABSENT:
        return False
    return current is new or bool(current == new)
