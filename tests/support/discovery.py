"""Helpers for the discovery tests: run a source in the background, watch its logs."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import attrs
import trio
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from trio_pool import Update
from trio_pool.discovery import DiscoveryMetricFamilies, DiscoveryMetrics
from trio_pool.testing import PoolModel

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
"""Any JSON value."""

near_records = st.fixed_dictionaries(
    {},
    optional={
        "host": st.sampled_from(["10.0.0.1", "web", "", " ", "a b", "\x00", "::1"]) | json_values,
        "port": st.sampled_from([0, 1, 80, 65535, 65536, -1, True, 80.0, "80"]) | json_values,
        "meta": st.none() | st.dictionaries(st.text(max_size=4), json_values) | json_values,
        "extra": json_values,
    },
)
"""Endpoint records, valid or nearly: so that a fuzzer reaches every check of the parser."""


def is_valid(record: object) -> bool:
    """The endpoint record format, restated independently of the parser."""
    if not isinstance(record, dict):
        return False
    host, port, meta = record.get("host"), record.get("port"), record.get("meta")
    return (
        isinstance(host, str)
        and 0 < len(host) <= 255
        and all(c.isprintable() and not c.isspace() for c in host)
        and type(port) is int
        and 1 <= port <= 65535
        and (meta is None or isinstance(meta, dict))
    )


def expected_endpoints(records: list[Any]) -> dict[tuple[str, int], Any]:
    """What a list of records means: the first valid record of each address."""
    endpoints: dict[tuple[str, int], Any] = {}
    for record in records:
        if is_valid(record):
            endpoints.setdefault((record["host"], record["port"]), record.get("meta") or {})
    return endpoints


@attrs.define(eq=False)
class Updates:
    """The updates of a source running in a background task, as they arrive."""

    _receive: trio.MemoryReceiveChannel[Update]
    patience: float | None
    """How long `next` and `until` wait before they fail; ``None`` (forever) for tests on
    a mock clock whose sources read files: there, a deadline is jumped to while a worker
    thread reads, since the task that waits for it counts as blocked."""
    model: PoolModel = attrs.field(factory=PoolModel)

    @property
    def state(self) -> dict[Any, Any]:
        """The endpoints after every update received so far."""
        return self.model.members

    async def next(self) -> Update:
        """The next update, applied to `state`."""
        with trio.fail_after(math.inf if self.patience is None else self.patience):
            update = await self._receive.receive()
        self.model.apply(update)
        return update

    def drain(self) -> list[Update]:
        """The updates that arrived already, applied to `state`."""
        received: list[Update] = []
        while True:
            try:
                update = self._receive.receive_nowait()
            except trio.WouldBlock:
                return received
            self.model.apply(update)
            received.append(update)

    async def none_within(self, seconds: float) -> None:
        """Assert that no update arrives for ``seconds``."""
        with trio.move_on_after(seconds):
            update = await self._receive.receive()
            raise AssertionError(f"expected no update for {seconds} s, got {update!r}")

    async def until(self, wanted: Mapping[Any, Any]) -> list[Update]:
        """Receive updates until `state` equals ``wanted``; return them."""
        received: list[Update] = []
        with trio.fail_after(math.inf if self.patience is None else self.patience):
            while self.state != wanted:
                received.append(await self.next())
        return received


@asynccontextmanager
async def collect(
    source: AsyncIterable[Update], *, patience: float | None = 10.0
) -> AsyncIterator[Updates]:
    """Iterate ``source`` in a background task; yield its updates as they arrive.

    Leaving the block closes the source. If the source raises, the block raises it.
    """
    send, receive = trio.open_memory_channel[Update](math.inf)

    async def run() -> None:
        iterator = aiter(source)
        async with send:
            try:
                async for update in iterator:
                    send.send_nowait(update)
            finally:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    with trio.CancelScope(shield=True):
                        await aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        yield Updates(receive, patience)
        nursery.cancel_scope.cancel()


def new_metrics() -> tuple[CollectorRegistry, DiscoveryMetrics]:
    registry = CollectorRegistry()
    return registry, DiscoveryMetricFamilies.register(registry).labels()


def errors(registry: CollectorRegistry, source: str, kind: str) -> float:
    value = registry.get_sample_value(
        "trio_pool_discovery_errors_total", {"source": source, "kind": kind}
    )
    return value or 0.0


def updates_counted(registry: CollectorRegistry, source: str, op: str) -> float:
    value = registry.get_sample_value(
        "trio_pool_discovery_updates_total", {"source": source, "op": op}
    )
    return value or 0.0


class LogEvents(logging.Handler):
    """Wakes a waiting task when a log record whose message contains ``text`` arrives.

    Sources log from the task that iterates them (the Trio thread), so setting a Trio
    event from ``emit`` is safe.
    """

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = 0
        self.times: list[float] = []
        self.last = ""
        self._changed = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.last = record.getMessage()
            self.seen += 1
            self.times.append(trio.current_time())
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, count: int) -> None:
        """Return once ``count`` matching records arrived in all."""
        while self.seen < count:
            await self._changed.wait()


@contextmanager
def watch_log(name: str, text: str) -> Iterator[LogEvents]:
    """Count the records of logger ``name`` (at DEBUG and up) containing ``text``."""
    logger = logging.getLogger(name)
    handler = LogEvents(text)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
