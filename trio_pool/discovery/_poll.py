"""The loop of the sources that poll: read a snapshot, report what changed, sleep.

`FileDiscovery` and `DnsDiscovery` differ only in how they read a snapshot and how long
it stays fresh; this loop does the rest. A snapshot is the whole set (`Found`), the
name being gone (`Missing`), or nothing new (`Unchanged`); a `TransientError` keeps
the last reported set and retries after a capped, jittered backoff. Time comes from
Trio only, so a ``MockClock`` drives the loop in tests.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, TypeAlias

import attrs
import trio

from .._update import Update
from ._retry import Retry, TransientError
from ._tracker import Tracker

__all__ = ["Found", "Missing", "Snapshot", "Unchanged", "poll"]


@attrs.frozen
class Found:
    """The complete set of endpoints; read again after ``next_poll`` seconds."""

    endpoints: Mapping[Any, Any]
    next_poll: float


@attrs.frozen
class Missing:
    """The name does not exist; look again after ``next_poll`` seconds."""

    next_poll: float


@attrs.frozen
class Unchanged:
    """Nothing to report (say, an invalid document); look again after ``next_poll``."""

    next_poll: float


Snapshot: TypeAlias = Found | Missing | Unchanged


async def poll(
    fetch: Callable[[], Awaitable[Snapshot]], tracker: Tracker, retry: Retry
) -> AsyncGenerator[Update, None]:
    """Yield the updates of successive snapshots from ``fetch()``, forever."""
    while True:
        try:
            snapshot = await fetch()
        except TransientError as exc:
            delay = retry.failed()
            tracker.error(exc.kind, exc.message, retry_in=delay)
            await trio.sleep(delay)
            continue
        failures = retry.succeeded()
        if failures:
            tracker.logger.info("%s: recovered after %d failures in a row", tracker.name, failures)
        if isinstance(snapshot, Found):
            updates = tracker.changes(snapshot.endpoints)
        elif isinstance(snapshot, Missing):
            updates = tracker.does_not_exist()
        else:
            updates = []
        for update in updates:
            yield update
        await trio.sleep(snapshot.next_poll)
