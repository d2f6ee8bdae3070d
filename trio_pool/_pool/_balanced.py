"""`BalancedPool`: membership, over a ready cache, choosing with a policy.

The pool owns membership: which ``(address, target)`` pairs it holds, the diff of each
update, and evicting what leaves. It holds the parts that do the rest, and reads none
of their private state:

- a `ReadyCache`: the readiness of its members (the ready list, pending waits, backoff);
- a policy (`PowerOfTwoChoices`, `RoundRobin`, `UniformRandom`) that picks among the
  ready, passed in rather than subclassed in;
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
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, NoReturn, TypeVar

import attrs
import trio

from .._backoff import Backoff
from .._update import _endpoint_pairs
from ._call import CallAccounting, PoolCall
from ._load import Load
from ._member import EndpointState, Member
from ._metrics import PoolMetrics
from ._policy import Policy
from ._protocol import Endpoint
from ._ready_cache import ReadyCache
from ._retire import Retirer

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

    def describe(self) -> str:
        """The counts in words, as errors and logs quote them."""
        if not self.endpoints:
            return "the pool has no endpoints"
        parts = [f"{self.ready} ready", f"{self.pending} pending"]
        if self.backing_off:
            parts.append(f"{self.backing_off} backing off")
        noun = "endpoint" if self.endpoints == 1 else "endpoints"
        described = f"{self.endpoints} {noun} ({', '.join(parts)})"
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


@attrs.define(eq=False, init=False)
class BalancedPool(Generic[Addr, T, Req, Rsp]):
    """A `trio_pool.Pool` that balances over the endpoints ``new_endpoint`` makes.

    The shipped pools (`P2CPool`, `RoundRobinPool`, `RandomPool`) are balanced pools
    with a policy each. Besides the protocol it offers ``ready_nowait()`` (so the queue
    can bind a call in the caller's task), ``members()``, ``statistics()`` and
    ``endpoint_statistics()``.
    """

    _load: Load
    _policy: Policy
    _metrics: PoolMetrics
    _cache: ReadyCache
    _retirer: Retirer
    _accounting: CallAccounting
    _members: dict[Addr, Member] = attrs.field(factory=dict)
    _selected: Member | None = None
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
    ) -> None:
        if not callable(new_endpoint):
            raise TypeError(f"new_endpoint must be callable, got {new_endpoint!r}")
        if metrics is None:
            metrics = PoolMetrics.disabled()
        elif not isinstance(metrics, PoolMetrics):
            raise TypeError(
                f"metrics must come from PoolMetricFamilies.labels(), got {type(metrics).__name__}"
            )
        retirer = Retirer(CLOSE_GRACE)
        cache = ReadyCache(
            new_endpoint,
            retirer,
            backoff if backoff is not None else Backoff(),
            rng if rng is not None else random.Random(),
            metrics,
        )
        self.__attrs_init__(load, policy, metrics, cache, retirer, CallAccounting(cache, retirer))

    # -- membership -----------------------------------------------------------------------

    def reset_pool(self, endpoints: Iterable[tuple[Addr, T]]) -> None:
        """Hold exactly ``endpoints``: unchanged ``(address, target)`` pairs keep their
        endpoint and load estimate, changed targets are rebuilt, absent ones evicted.

        Raises ``TypeError`` / ``ValueError`` like `Reset` for malformed input, and
        whatever a target's ``__eq__`` raises, before anything changes.
        """
        wanted: dict[Addr, T] = dict(_endpoint_pairs(endpoints))
        members = self._members
        # The whole diff first: comparing targets runs their __eq__, which may raise.
        leaving = [member for address, member in members.items() if address not in wanted]
        joining = [
            (address, target)
            for address, target in wanted.items()
            if (member := members.get(address)) is None or not _same(member.target, target)
        ]
        if not leaving and not joining:
            return
        for member in leaving:
            self._evict(member)
        self._join(joining)
        self._changed()
        self._metrics.updates_reset.inc()

    def add_endpoint(self, address: Addr, target: T) -> None:
        """Add an endpoint, or rebuild it if ``address`` is present with another target."""
        member = self._members.get(address)  # an unhashable address raises TypeError here
        if member is not None and _same(member.target, target):
            return
        self._join([(address, target)])
        self._changed()
        self._metrics.updates_add.inc()

    def remove_endpoint(self, address: Addr) -> None:
        """Evict the endpoint at ``address``; an unknown address changes nothing."""
        member = self._members.get(address)
        if member is not None:
            self._evict(member)
            self._changed()
            self._metrics.updates_remove.inc()

    def _join(self, joining: list[tuple[Addr, T]]) -> None:
        members = self._members
        now = trio.current_time()
        tracker = self._load.tracker
        join = self._cache.join
        for count, (address, target) in enumerate(joining):
            old = members.get(address)
            if old is not None:
                logger.debug("endpoint %r: target changed, rebuilding it", address)
                self._evict(old)
            else:
                logger.debug("endpoint %r added", address)
            member = Member(address, target, tracker(now), now)
            members[address] = member
            join(member, at_once=count < _MAKE_AT_ONCE)

    def _evict(self, member: Member) -> None:
        del self._members[member.address]
        logger.debug("endpoint %r evicted", member.address)
        if self._selected is member:
            self._selected = None
        self._cache.leave(member)

    def _changed(self) -> None:
        self._updates += 1
        self._metrics.endpoints.set(len(self._members))

    # -- the Pool protocol ----------------------------------------------------------------

    async def drive(self) -> NoReturn:
        """Bring endpoints to readiness and close retired ones, until cancelled."""
        if self._driving:
            raise RuntimeError("drive() is already running for this pool")
        self._driving = True
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._cache.run, name="trio_pool readiness")
                nursery.start_soon(self._retirer.run, name="trio_pool close")
        finally:
            self._driving = False
        raise AssertionError("unreachable: the pool's tasks returned")

    async def ready(self) -> None:
        """Return once an endpoint is selected for the next ``call``."""
        await trio.lowlevel.checkpoint()
        while not self._select():
            await self._cache.wait_ready()

    def ready_nowait(self) -> None:
        """Select an endpoint if one is ready now, else raise ``trio.WouldBlock``."""
        if not self._select():
            raise trio.WouldBlock

    def _select(self) -> bool:
        ready = self._cache.ready
        choose = self._policy.choose
        check = self._cache.check
        while ready:
            member = choose(ready)
            # An endpoint with ready_nowait() stays listed between calls: ask it again.
            if member.nowait and not check(member):
                continue
            self._selected = member
            return True
        return False

    def call(self, request: Req) -> PoolCall[Rsp]:
        """Bind ``request`` to the endpoint that ``ready()`` selected."""
        member, self._selected = self._selected, None
        if member is None:
            raise RuntimeError("call() must follow a ready() that selected an endpoint")
        return self._accounting.bind(member, request)

    async def aclose(self) -> None:
        """Evict every endpoint and close them all (see `Retirer`): calls still running
        get one grace period of 5 seconds to end, closing shares what is left of it."""
        for member in list(self._members.values()):
            self._evict(member)
        self._metrics.endpoints.set(0)
        await self._retirer.aclose()

    # -- what users may look at -----------------------------------------------------------

    def members(self) -> dict[Addr, T]:
        """A copy of the pool's membership: each address and its target."""
        return {address: member.target for address, member in self._members.items()}

    def statistics(self) -> PoolStatistics:
        """A snapshot of the pool's endpoints by state, calls in flight, updates applied."""
        cache = self._cache
        return PoolStatistics(
            endpoints=len(self._members),
            ready=len(cache.ready),
            pending=cache.pending,
            backing_off=cache.backing_off,
            in_flight=self._accounting.in_flight,
            updates=self._updates,
            draining=self._retirer.draining,
            last_error=cache.last_error,
        )

    def endpoint_statistics(self) -> tuple[EndpointStatistics, ...]:
        """A snapshot of each endpoint: state, load, calls in flight, failures."""
        now = trio.current_time()
        return tuple(
            EndpointStatistics(
                address=member.address,
                target=member.target,
                state=member.state,
                load=member.load.cost(now),
                in_flight=member.calls,
                failures=member.failures,
                last_error=member.last_error,
            )
            for member in self._members.values()
        )


def _same(current: object, new: object) -> bool:
    return current is new or bool(current == new)
