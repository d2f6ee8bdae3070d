"""End to end: a P2C pool fed by `DnsDiscovery` from a real dnsmasq, requests flowing,
a record removed mid-run."""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Hashable, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from trio_pool import Backoff, P2CPool, Remove, Update, open_pool_queue
from trio_pool.discovery import DnsDiscovery

from ..support.servers import Dnsmasq


@attrs.define(eq=False)
class Journal:
    """What happened, in order: requests bound to endpoints, updates applied."""

    entries: list[tuple[str, Any]] = attrs.field(factory=list)
    _changed: trio.Event = attrs.field(factory=trio.Event)

    def append(self, entry: tuple[str, Any]) -> None:
        self.entries.append(entry)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        with trio.fail_after(10):
            while not condition():
                await self._changed.wait()

    def bound(self, start: int = 0, stop: int | None = None) -> list[Any]:
        return [address for kind, address in self.entries[start:stop] if kind == "bound"]


@attrs.define(eq=False)
class RecordingEndpoint:
    """Writes each request it is bound to into the shared journal, as it is bound."""

    address: Hashable
    journal: Journal

    async def ready(self) -> None:
        await trio.lowlevel.checkpoint()

    def ready_nowait(self) -> None:
        pass

    def call(self, request: int) -> Any:
        # The pool binds a request by calling this: record it now, not when it runs.
        self.journal.append(("bound", self.address))
        return self._respond(request)

    async def _respond(self, request: int) -> tuple[Hashable, int]:
        await trio.sleep(0.001)
        return self.address, request


async def tap(source: DnsDiscovery, journal: Journal) -> AsyncGenerator[Update, None]:
    """Pass the source's updates on, writing each into the journal first.

    The queue applies an update as soon as it gets it, with no checkpoint in between,
    so every entry after an update in the journal happened after it was applied.
    """
    async with aclosing(aiter(source)) as updates:
        async for update in updates:
            journal.append(("update", update))
            yield update


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[Dnsmasq]:
    with Dnsmasq.running(tmp_path) as server:
        yield server


async def test_no_request_goes_to_an_address_after_its_removal(dnsmasq: Dnsmasq) -> None:
    names = [
        ("10.0.0.1", "web.svc.test"),
        ("10.0.0.2", "web.svc.test"),
        ("10.0.0.3", "web.svc.test"),
    ]
    dnsmasq.set_hosts(names)
    await trio.to_thread.run_sync(dnsmasq.reload)
    journal = Journal()
    pool: P2CPool[Any, Any, int, tuple[Hashable, int]] = P2CPool(
        lambda address, target: RecordingEndpoint(address, journal), rng=random.Random(7)
    )
    source = DnsDiscovery(
        "web.svc.test",
        8080,
        nameservers=["127.0.0.1"],
        nameserver_port=dnsmasq.port,
        min_interval=0.02,
        max_interval=0.05,
        timeout=0.5,
        backoff=Backoff(initial=0.02, maximum=0.1),
    )
    removed = ("10.0.0.2", 8080)
    responses: list[tuple[Hashable, int]] = []
    updates: AsyncIterable[Update] = tap(source, journal)
    async with open_pool_queue(pool, updates) as queue:

        async def client(first: int) -> None:
            request = first
            while True:
                address, echoed = await queue.call(request)
                assert echoed == request, "each caller gets the response to its own request"
                responses.append((address, echoed))
                request += 100

        async with trio.open_nursery() as clients:
            for first in range(4):
                clients.start_soon(client, first)
            everyone = {("10.0.0.1", 8080), removed, ("10.0.0.3", 8080)}
            await journal.wait_until(lambda: set(journal.bound()) >= everyone)
            dnsmasq.set_hosts([n for n in names if n[0] != removed[0]])
            await trio.to_thread.run_sync(dnsmasq.reload)
            removal: tuple[str, Any] = ("update", Remove([removed]))
            await journal.wait_until(lambda: removal in journal.entries)
            applied = journal.entries.index(removal)
            await journal.wait_until(lambda: len(journal.entries) > applied + 200)
            clients.cancel_scope.cancel()

    bound_after = journal.bound(applied + 1)
    assert removed not in bound_after, "a request was bound to an address after its removal"
    assert set(bound_after) == {("10.0.0.1", 8080), ("10.0.0.3", 8080)}, (
        "requests kept flowing to the other addresses"
    )
    assert len(responses) > 200
    assert removed in journal.bound(0, applied), "the removed address did take requests before"
