"""Queues over pools of scripted endpoints, for the tests of retries and hedging."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio.testing
from prometheus_client import CollectorRegistry

from trio_pool import (
    LeastLoadedPool,
    P2CPool,
    PoolQueue,
    QueueMetricFamilies,
    RandomPool,
    Reset,
    RoundRobinPool,
    Update,
    open_pool_queue,
)
from trio_pool.testing import CallState, EndpointHandle, EndpointKind, MockCall, MockEndpoint

POOLS: dict[str, Callable[..., Any]] = {
    "p2c": P2CPool,
    "least_loaded": LeastLoadedPool,
    "round_robin": RoundRobinPool,
    "random": RandomPool,
}


@attrs.define(eq=False)
class Response:
    """A response that must be closed if it is not delivered, as an httpx one must."""

    address: Hashable
    request: Any
    busy: bool = False
    """Whether the endpoint said it was too busy (a 503, say): worth another try."""
    closed: int = 0

    async def aclose(self) -> None:
        self.closed += 1
        await trio.lowlevel.checkpoint()


@attrs.define(eq=False)
class PlannedEndpoint(MockEndpoint):
    """A `MockEndpoint` whose calls follow the plan of its `Endpoints`, call by call."""

    endpoints: Endpoints = attrs.field(kw_only=True)

    async def _serve(self, call: MockCall) -> Any:
        planned = self.endpoints.planned.get(id(call))
        if planned is None:
            return await super()._serve(call)
        latency, error = planned
        # An endpoint that finishes what it started even when cancelled (a write under
        # way, say): its answer can arrive after the caller stopped wanting it.
        shielded = self.endpoints.stubborn is not None and self.endpoints.stubborn(
            self.address, call.request
        )
        with trio.CancelScope(shield=shielded):
            await trio.sleep(latency)
        if error is not None:
            raise error
        return self.handle.respond(self.address, call.request)


@attrs.define(eq=False)
class Endpoints:
    """The endpoint factory of a pool of `PlannedEndpoint`s, and what they did.

    Each endpoint made gets a handle of its own; ``handles`` holds the latest one of each
    address, ``every_handle`` all of them.
    """

    kind: EndpointKind
    handles: dict[Any, EndpointHandle] = attrs.field(factory=dict)
    every_handle: list[EndpointHandle] = attrs.field(factory=list)
    planned: dict[int, tuple[float, Exception | None]] = attrs.field(factory=dict)
    responses: list[Response] = attrs.field(factory=list)
    """Every response an endpoint answered with, in order."""
    bound: list[tuple[Any, Hashable]] = attrs.field(factory=list)
    """Each request bound, and where, in order."""
    plan: Callable[[Any, int, Hashable], tuple[float, Exception | None]] | None = None
    """If set, ``plan(request, copy, address)`` gives each call's latency and error as it
    is bound, ``copy`` counting from 0 the calls of that request so far."""
    busy: Callable[[Hashable, Any], bool] | None = None
    """If set, ``busy(address, request)`` says whether a response is a busy one."""
    stubborn: Callable[[Hashable, Any], bool] | None = None
    """If set, ``stubborn(address, request)`` says whether a planned call answers even
    when it is cancelled."""

    def __call__(self, address: Hashable, target: Any) -> MockEndpoint:
        handle = self.handles[address] = EndpointHandle(kind=self.kind)
        self.every_handle.append(handle)
        handle.respond = self._respond
        handle.on_call = lambda request: self._bound(handle, address, request)
        return PlannedEndpoint(address, target, handle, endpoints=self)

    def _bound(self, handle: EndpointHandle, address: Hashable, request: Any) -> None:
        copy = sum(r == request for r, _ in self.bound)
        self.bound.append((request, address))
        if self.plan is not None:
            self.planned[id(handle.calls[-1])] = self.plan(request, copy, address)

    def _respond(self, address: Hashable, request: Any) -> Response:
        response = Response(address, request, self.busy is not None and self.busy(address, request))
        self.responses.append(response)
        return response

    def sent_to(self, request: Any) -> list[Any]:
        """The addresses ``request`` was bound to, in the order it was."""
        return [address for r, address in self.bound if r == request]

    def every_call(self) -> list[MockCall]:
        return [call for handle in self.every_handle for call in handle.calls]

    def in_flight(self) -> int:
        return sum(handle.in_flight for handle in self.every_handle)

    def calls(self) -> int:
        return len(self.every_call())

    def outcomes(self, request: Any) -> list[str | None]:
        return [call.outcome for call in self.every_call() if call.request == request]

    def leaked(self) -> list[MockCall]:
        """Calls bound and neither run to an end nor closed."""
        return [
            call for call in self.every_call() if call.state in (CallState.BOUND, CallState.RUNNING)
        ]


@attrs.define(eq=False)
class Setup:
    queue: PoolQueue[Any, Any]
    endpoints: Endpoints
    registry: CollectorRegistry
    updates: trio.MemorySendChannel[Update]

    def metric(self, name: str) -> float:
        value = self.registry.get_sample_value(f"trio_pool_queue_{name}")
        assert value is not None, name
        return value


@asynccontextmanager
async def open_queue(
    addresses: Iterable[Hashable] = ("a", "b", "c"),
    *,
    kind: EndpointKind = EndpointKind.NOWAIT,
    pool: str = "round_robin",
    seed: int = 0,
    pool_wrapper: Callable[[Any], Any] | None = None,
    **options: Any,
) -> AsyncIterator[Setup]:
    """A queue over a pool of `MockEndpoint`s of ``kind``, one per address, ready."""
    endpoints = Endpoints(kind)
    balanced = POOLS[pool](endpoints, rng=random.Random(seed))
    registry = CollectorRegistry()
    options.setdefault("metrics", QueueMetricFamilies.register(registry).labels())
    send, discovery = trio.open_memory_channel[Update](math.inf)
    send.send_nowait(Reset([(address, None) for address in addresses]))
    wrapped = balanced if pool_wrapper is None else pool_wrapper(balanced)
    async with open_pool_queue(wrapped, discovery, **options) as queue:
        await trio.testing.wait_all_tasks_blocked()
        yield Setup(queue, endpoints, registry, send)


@attrs.define(eq=False)
class WithoutExtensions:
    """A pool with only the protocol's methods: no ``ready_nowait``, no ``call_avoiding``
    unless asked for, so requests go through the worker."""

    _pool: Any
    avoiding: bool = False

    def reset_pool(self, endpoints: Iterable[tuple[Hashable, Any]]) -> None:
        self._pool.reset_pool(endpoints)

    def add_endpoint(self, address: Hashable, target: Any) -> None:
        self._pool.add_endpoint(address, target)

    def remove_endpoint(self, address: Hashable) -> None:
        self._pool.remove_endpoint(address)

    async def drive(self) -> Any:
        return await self._pool.drive()

    async def ready(self) -> None:
        await self._pool.ready()

    def call(self, request: Any) -> Any:
        return self._pool.call(request)

    def __getattr__(self, name: str) -> Any:
        if name == "call_avoiding" and self.avoiding:
            return self._pool.call_avoiding
        raise AttributeError(name)

    async def aclose(self) -> None:
        await self._pool.aclose()
