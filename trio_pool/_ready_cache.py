"""The bookkeeping every shipped pool shares: membership, readiness, backoff, accounting.

What tower calls a ready cache, in Trio terms. Each endpoint is in one of three states:

- *pending*: a task under ``pool.drive()`` awaits its ``ready()``;
- *ready*: it is in the ready list, from which the pool's policy picks;
- *backing off*: its readiness failed; after a capped exponential backoff with jitter
  it is re-created from the factory and is pending again.

No task is spent on an endpoint that is plainly ready. An endpoint may offer the
optional ``ready_nowait()`` (return if it can take one more request now, raise
``trio.WouldBlock`` if not, anything else if it failed): such an endpoint joins the ready
list straight away when it is added, stays there after a call, and is checked again only
when the policy picks it. An endpoint with only ``ready()`` goes back to pending after
each call, and a task awaits its readiness again.

Evicting an endpoint (removed, or rebuilt because its target changed) cancels its
readiness task and closes it with ``aclose()``, once the calls still running on it end.

A call ends when it returns, unless its endpoint offers the optional
``call_leased(request, lease)``: the pool then calls that with a fresh `Lease`, and a call
that returns stays counted (in flight, against the endpoint's load, keeping an evicted
endpoint open) until the endpoint releases the lease, say when the response body it
returned is closed. Its load is still measured to its return, and reported to the load
tracker when the lease is released: as a failure if the endpoint marked the lease
``failed`` (a response that is an error all the same, such as an HTTP 5xx).
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable, Coroutine, Hashable, Iterable
from functools import partial
from typing import Any, Generic, NoReturn, TypeVar

import attrs
import trio

from ._backoff import Backoff
from ._bound import BoundCall, CallOutcome, Lease
from ._endpoint import Endpoint
from ._load import Load, LoadTracker
from ._metrics import PoolMetrics
from ._update import _endpoint_pairs

__all__ = ["EndpointState", "PoolStatistics", "ReadyCachePool"]

Addr = TypeVar("Addr", bound=Hashable)
T = TypeVar("T")
Req = TypeVar("Req")
Rsp = TypeVar("Rsp")

logger = logging.getLogger("trio_pool.pool")

# How long one endpoint's aclose() may take before the pool moves on.
_ENDPOINT_CLOSE_GRACE = 5.0


def _raise_cancelled(group: BaseExceptionGroup[BaseException], what: str) -> None:
    """If ``group`` holds a Cancelled, log the rest as moot and raise only the Cancelled."""
    cancelled, failed = group.split(trio.Cancelled)
    if cancelled is None:
        return
    if failed is not None:
        logger.warning("%s failed while cancelled: %r", what, failed)
    raise cancelled from None


class EndpointState(enum.Enum):
    PENDING = "pending"
    READY = "ready"
    BACKING_OFF = "backing off"
    EVICTED = "evicted"


@attrs.frozen
class PoolStatistics:
    """A snapshot of a pool, from ``pool.statistics()``."""

    endpoints: int
    """Endpoints in the pool, whatever their state."""
    ready: int
    """Endpoints in the ready list."""
    pending: int
    """Endpoints whose readiness a task awaits."""
    backing_off: int
    """Endpoints whose readiness failed, waiting to be re-created."""
    in_flight: int
    """Calls bound and not yet ended."""
    updates: int
    """Membership changes applied (resets, adds and removes that changed something)."""


@attrs.define(eq=False, slots=True)
class _Member:
    """One endpoint object, from its creation to its close."""

    endpoint: Any
    in_flight: int = 0
    retired: bool = False
    closed: bool = False


@attrs.define(eq=False, slots=True)
class _Slot:
    """One address of the pool, across the endpoint objects it goes through."""

    address: Any
    target: Any
    load: LoadTracker
    member: _Member | None = None
    # The member's endpoint, again: picking reads it, and one pointer less to chase
    # matters when the pool is too large for the CPU's caches.
    endpoint: Any = None
    nowait: bool = False
    # Whether the endpoint has call_leased(); looked up once, like ready_nowait().
    leased: bool = False
    # Calls in flight on the current endpoint, counted here rather than on the member
    # for the same reason; handed over to the member when it is detached.
    calls: int = 0
    state: EndpointState = EndpointState.PENDING
    index: int = -1
    scope: trio.CancelScope | None = None
    failures: int = 0


@attrs.define(eq=False, init=False)
class ReadyCachePool(Generic[Addr, T, Req, Rsp]):
    """Base of the shipped pools: everything but the choice among ready endpoints.

    Subclasses implement ``_choose(now)``, returning one slot of the non-empty ready list.
    """

    _new_endpoint: Callable[[Addr, T], Endpoint[Req, Rsp]]
    _load: Load
    _rng: random.Random
    _backoff: Backoff
    _metrics: PoolMetrics | None
    _slots: dict[Addr, _Slot] = attrs.field(factory=dict, init=False)
    _ready: list[_Slot] = attrs.field(factory=list, init=False)
    _selected: _Slot | None = attrs.field(default=None, init=False)
    _became_ready: trio.Event = attrs.field(factory=trio.Event, init=False)
    _waiters: int = attrs.field(default=0, init=False)
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)
    _deferred: list[tuple[Callable[..., Coroutine[Any, Any, None]], tuple[Any, ...]]] = attrs.field(
        factory=list, init=False
    )
    _draining: set[_Member] = attrs.field(factory=set, init=False)
    _closing: set[_Member] = attrs.field(factory=set, init=False)
    _pending: int = attrs.field(default=0, init=False)
    _backing_off: int = attrs.field(default=0, init=False)
    _in_flight: int = attrs.field(default=0, init=False)
    _updates: int = attrs.field(default=0, init=False)

    def _setup(
        self,
        new_endpoint: Callable[[Addr, T], Endpoint[Req, Rsp]],
        load: Load,
        rng: random.Random | None,
        backoff: Backoff | None,
        metrics: PoolMetrics | None,
    ) -> None:
        """What the subclasses' keyword-only constructors share."""
        self.__attrs_init__(
            new_endpoint,
            load,
            rng if rng is not None else random.Random(),
            backoff if backoff is not None else Backoff(),
            metrics,
        )

    # -- the policy ---------------------------------------------------------------------

    def _choose(self, now: float) -> _Slot:
        raise NotImplementedError

    # -- membership -----------------------------------------------------------------------

    def reset_pool(self, endpoints: Iterable[tuple[Addr, T]]) -> None:
        """Hold exactly ``endpoints``: unchanged ``(address, target)`` pairs keep their
        endpoint and load estimate, changed targets are rebuilt, absent ones evicted.

        Raises ``TypeError`` / ``ValueError`` like `Reset` for malformed input, before
        anything changes.
        """
        wanted = dict(_endpoint_pairs(endpoints))
        changed = False
        for address in [a for a in self._slots if a not in wanted]:
            self._evict(address)
            changed = True
        now = trio.current_time()
        for address, target in wanted.items():
            changed |= self._put(address, target, now)
        if changed:
            self._changed()
            if self._metrics is not None:
                self._metrics.updates_reset.inc()

    def add_endpoint(self, address: Addr, target: T) -> None:
        """Add an endpoint, or rebuild it if ``address`` is present with another target."""
        hash(address)  # an unhashable address raises TypeError before anything changes
        if self._put(address, target, trio.current_time()):
            self._changed()
            if self._metrics is not None:
                self._metrics.updates_add.inc()

    def remove_endpoint(self, address: Addr) -> None:
        """Evict the endpoint at ``address``; an unknown address changes nothing."""
        if address in self._slots:
            self._evict(address)
            self._changed()
            if self._metrics is not None:
                self._metrics.updates_remove.inc()

    def _changed(self) -> None:
        self._updates += 1
        if self._metrics is not None:
            self._metrics.endpoints.set(len(self._slots))

    def _put(self, address: Addr, target: T, now: float) -> bool:
        slot = self._slots.get(address)
        if slot is not None:
            if slot.target == target:
                return False
            logger.debug("endpoint %r: target changed, rebuilding it", address)
            self._evict(address)
        else:
            logger.debug("endpoint %r added", address)
        slot = _Slot(address, target, self._load.tracker(now))
        self._slots[address] = slot
        self._pending += 1  # every slot starts pending
        if self._create(slot):
            self._admit(slot)
        else:
            self._start_readiness(slot)
        return True

    def _evict(self, address: Addr) -> None:
        slot = self._slots.pop(address)
        logger.debug("endpoint %r evicted", address)
        self._leave_state(slot)
        slot.state = EndpointState.EVICTED
        if slot.scope is not None:
            slot.scope.cancel()
            slot.scope = None
        if self._selected is slot:
            self._selected = None
        self._detach(slot)

    # -- endpoint life --------------------------------------------------------------------

    def _create(self, slot: _Slot) -> bool:
        """Make the slot's endpoint from the factory; on failure, put it in backoff."""
        try:
            endpoint = self._new_endpoint(slot.address, slot.target)
        except Exception as exc:
            self._failed(slot, exc, "creating it")
            return False
        slot.member = _Member(endpoint)
        slot.endpoint = endpoint
        slot.nowait = hasattr(endpoint, "ready_nowait")
        slot.leased = hasattr(endpoint, "call_leased")
        return True

    def _admit(self, slot: _Slot) -> None:
        """A pending slot with a fresh endpoint: ready at once if it says so, else a task."""
        if slot.nowait:
            try:
                slot.endpoint.ready_nowait()
            except trio.WouldBlock:
                pass
            except Exception as exc:
                self._failed(slot, exc, "ready_nowait()")
                self._start_readiness(slot)
                return
            else:
                self._set_ready(slot)
                return
        self._start_readiness(slot)

    def _start_readiness(self, slot: _Slot) -> None:
        scope = trio.CancelScope()
        slot.scope = scope
        self._spawn(self._await_readiness, slot, scope)

    async def _await_readiness(self, slot: _Slot, scope: trio.CancelScope) -> None:
        # Each await may return normally even though the slot was evicted meanwhile (the
        # task was already rescheduled when its scope was cancelled), hence the checks.
        with scope:
            while True:
                if slot.state is EndpointState.BACKING_OFF:
                    await trio.sleep(self._backoff.delay(slot.failures, self._rng))
                    if scope.cancel_called:
                        return
                    if not self._create(slot):
                        continue
                    self._set_state(slot, EndpointState.PENDING)
                    logger.debug("endpoint %r re-created after backoff", slot.address)
                member = slot.member
                assert member is not None, "a pending slot has an endpoint"
                try:
                    await member.endpoint.ready()
                except Exception as exc:
                    if scope.cancel_called:
                        return
                    self._failed(slot, exc, "ready()")
                    continue
                except BaseExceptionGroup as group:
                    # Cancelled while ready() failed: an endpoint's nursery may raise
                    # its error beside the Cancelled in one group. Being evicted, or
                    # shut down, the endpoint's error is moot: log it, keep cancelling.
                    if scope.cancel_called:
                        return
                    _raise_cancelled(group, f"endpoint {slot.address!r} ready()")
                    raise
                if scope.cancel_called:
                    return
                slot.scope = None
                slot.failures = 0
                self._set_ready(slot)
                return

    def _failed(self, slot: _Slot, exc: Exception, during: str) -> None:
        slot.failures += 1
        logger.warning(
            "endpoint %r failed in %s (failure %d in a row; re-created after a backoff): %r",
            slot.address,
            during,
            slot.failures,
            exc,
        )
        if self._metrics is not None:
            self._metrics.endpoint_failures.inc()
        self._set_state(slot, EndpointState.BACKING_OFF)
        if self._selected is slot:
            self._selected = None
        self._detach(slot)

    def _set_ready(self, slot: _Slot) -> None:
        self._set_state(slot, EndpointState.READY)
        logger.debug("endpoint %r ready", slot.address)
        if self._waiters:
            self._became_ready.set()
            self._became_ready = trio.Event()

    def _to_pending(self, slot: _Slot) -> None:
        self._set_state(slot, EndpointState.PENDING)
        self._start_readiness(slot)

    def _set_state(self, slot: _Slot, state: EndpointState) -> None:
        self._leave_state(slot)
        slot.state = state
        if state is EndpointState.READY:
            slot.index = len(self._ready)
            self._ready.append(slot)
        elif state is EndpointState.PENDING:
            self._pending += 1
        else:
            self._backing_off += 1

    def _leave_state(self, slot: _Slot) -> None:
        if slot.state is EndpointState.READY:
            # Swap-remove: O(1) whatever the pool size.
            last = self._ready.pop()
            if last is not slot:
                self._ready[slot.index] = last
                last.index = slot.index
            slot.index = -1
        elif slot.state is EndpointState.PENDING:
            self._pending -= 1
        elif slot.state is EndpointState.BACKING_OFF:
            self._backing_off -= 1

    def _detach(self, slot: _Slot) -> None:
        """Take the slot's endpoint out of service; it closes once its calls end."""
        member = slot.member
        if member is None:
            return
        member.in_flight = slot.calls
        slot.calls = 0
        slot.member = slot.endpoint = None
        slot.nowait = slot.leased = False
        self._retire(member)

    def _retire(self, member: _Member) -> None:
        member.retired = True
        if member.in_flight:
            self._draining.add(member)  # closed when its last call ends
        else:
            self._close_soon(member)

    def _close_soon(self, member: _Member) -> None:
        if member.closed:
            return
        if not hasattr(member.endpoint, "aclose"):
            member.closed = True  # nothing to close: spare the task
            return
        self._closing.add(member)
        self._spawn(self._close_member, member)

    async def _close_member(self, member: _Member, *, shielded: bool = True) -> None:
        """Close one endpoint; with ``shielded``, within a grace period of its own that
        outer cancellation does not cut short (eviction), else under the caller's."""
        self._closing.discard(member)
        if member.closed:
            return
        member.closed = True
        aclose = getattr(member.endpoint, "aclose", None)
        if aclose is None:
            return
        with trio.move_on_after(_ENDPOINT_CLOSE_GRACE, shield=shielded):
            try:
                await aclose()
            except Exception as exc:
                logger.warning("closing endpoint %r failed: %r", member.endpoint, exc)
            except BaseExceptionGroup as group:
                # Cut short by the grace period while failing: log the failure, let the
                # cancellation end the scope.
                _raise_cancelled(group, f"closing endpoint {member.endpoint!r}")
                raise

    def _spawn(self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(function, *args)
        else:
            self._deferred.append((function, args))

    # -- the Pool protocol ----------------------------------------------------------------

    async def drive(self) -> NoReturn:
        """Run the readiness and close tasks of the pool's endpoints until cancelled."""
        if self._nursery is not None:
            raise RuntimeError("drive() is already running for this pool")
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                deferred, self._deferred = self._deferred, []
                for function, args in deferred:
                    nursery.start_soon(function, *args)
                await trio.sleep_forever()
            finally:
                self._nursery = None
        raise AssertionError("unreachable: sleep_forever() returned")

    async def ready(self) -> None:
        """Return once an endpoint is selected for the next ``call``."""
        await trio.lowlevel.checkpoint()
        while not self._select():
            self._waiters += 1
            try:
                await self._became_ready.wait()
            finally:
                self._waiters -= 1

    def ready_nowait(self) -> None:
        """Select an endpoint if one is ready now, else raise ``trio.WouldBlock``."""
        if not self._select():
            raise trio.WouldBlock

    def _select(self) -> bool:
        now = trio.current_time()
        while self._ready:
            slot = self._choose(now)
            if self._check(slot):
                self._selected = slot
                return True
        return False

    def _check(self, slot: _Slot) -> bool:
        # A slot whose endpoint has no ready_nowait() is in the ready list only straight
        # after its ready() returned, so it is fresh; the others are asked again now.
        if not slot.nowait:
            return True
        try:
            slot.endpoint.ready_nowait()
        except trio.WouldBlock:
            self._to_pending(slot)
            return False
        except Exception as exc:
            self._failed(slot, exc, "ready_nowait()")
            self._start_readiness(slot)
            return False
        return True

    def call(self, request: Req) -> BoundCall[Rsp]:
        """Bind ``request`` to the endpoint that ``ready()`` selected."""
        slot, self._selected = self._selected, None
        if slot is None or slot.member is None:
            raise RuntimeError("call() must follow a ready() that selected an endpoint")
        member = slot.member
        load = slot.load
        started = trio.current_time()
        lease: Lease | None = None
        if slot.leased:
            lease = Lease()
            coroutine = slot.endpoint.call_leased(request, lease)
        else:
            coroutine = slot.endpoint.call(request)
        load.start(started)
        slot.calls += 1
        self._in_flight += 1
        if not slot.nowait:
            self._to_pending(slot)

        def end(outcome: CallOutcome, answered: float) -> None:
            load.end(started, answered, outcome)
            self._in_flight -= 1
            if slot.member is member:
                slot.calls -= 1
                return
            member.in_flight -= 1
            if not member.in_flight:
                self._draining.discard(member)
                self._close_soon(member)

        def done(outcome: CallOutcome) -> None:
            answered = trio.current_time()
            if lease is not None and outcome is CallOutcome.OK:
                lease.when_released(
                    lambda: end(CallOutcome.FAILED if lease.failed else outcome, answered)
                )
            else:
                end(outcome, answered)

        return BoundCall(coroutine, done)

    async def aclose(self) -> None:
        """Evict every endpoint and close them all, concurrently, giving up on those
        still closing after 5 seconds; the pool is empty afterwards."""
        members = [slot.member for slot in self._slots.values() if slot.member is not None]
        for address in list(self._slots):
            self._evict(address)
        if self._metrics is not None:
            self._metrics.endpoints.set(0)
        members += [*self._draining, *self._closing]
        self._draining.clear()
        self._deferred = [(f, a) for f, a in self._deferred if f != self._close_member]
        members = [m for m in members if hasattr(m.endpoint, "aclose") and not m.closed]
        # All at once, under one grace period that the caller's cancellation can end:
        # a pool of endpoints that hang while closing must not take a grace each.
        with trio.move_on_after(_ENDPOINT_CLOSE_GRACE):
            async with trio.open_nursery() as closing:
                for member in members:
                    closing.start_soon(partial(self._close_member, member, shielded=False))

    def members(self) -> dict[Addr, T]:
        """A copy of the pool's membership: each address and its target."""
        return {address: slot.target for address, slot in self._slots.items()}

    def statistics(self) -> PoolStatistics:
        """A snapshot of the pool's endpoints by state, calls in flight, updates applied."""
        return PoolStatistics(
            endpoints=len(self._slots),
            ready=len(self._ready),
            pending=self._pending,
            backing_off=self._backing_off,
            in_flight=self._in_flight,
            updates=self._updates,
        )
