"""`FileDiscovery`: endpoints listed in a JSON file, polled for changes."""

from __future__ import annotations

import logging
import os
import pathlib
import random
from collections.abc import AsyncGenerator

import attrs
import trio

from .._backoff import Backoff
from .._update import Update
from . import _validate
from ._metrics import DiscoveryMetrics
from ._poll import Found, Missing, Snapshot, Unchanged, poll
from ._record import InvalidDocument, parse_endpoint_list
from ._retry import DEFAULT_BACKOFF, Retry, TransientError
from ._tracker import Tracker

__all__ = ["FileDiscovery"]

logger = logging.getLogger("trio_pool.discovery.file")


@attrs.frozen
class FileDiscovery:
    """Endpoints listed in a JSON file, read again every ``interval`` seconds.

    The file holds a JSON list of records, each an object
    ``{"host": "10.0.0.1", "port": 8080, "meta": {"zone": "a"}}``: the address is
    ``(host, port)`` and the target is ``meta`` as a `Meta` (``Meta()`` when it is
    absent or ``null``):

    ```python
    async with open_pool_queue(pool, FileDiscovery("/etc/app/users.json")) as queue:
        ...
    ```

    What the stream yields:

    - first a `Reset` with the file's endpoints, or `DoesNotExist` if there is no file;
    - when the content changes, the difference: an `Add` of new endpoints and of those
      whose ``meta`` changed, then a `Remove` of the vanished ones;
    - `DoesNotExist` when the file disappears, and a `Reset` when it comes back.

    What it never does is end, or let a bad file empty the pool:

    - A record that is malformed (or repeats an earlier record's address) is skipped,
      with a warning on the ``trio_pool.discovery.file`` logger and a ``bad_record`` error in
      the metrics; the file's other records still count.
    - A file that is not JSON, or not a list, keeps the last good set (an ``invalid``
      error, logged once per content).
    - A file that cannot be read (permissions, I/O error) keeps the last good set and is
      retried after ``backoff`` (an ``unavailable`` error).

    Replace the file atomically (write a temporary file, then rename it over the old
    one): a reader can otherwise see it half-written, which counts as invalid until the
    next poll. The file is read whole at every poll, off the event loop (in a worker
    thread, abandoned if the read blocks past cancellation, so a FIFO or a hung network
    filesystem cannot hold up the block around the queue), and parsed only when its
    bytes changed.

    Each iteration (each ``async for``) watches the file anew, starting with a `Reset`.
    Arguments after ``path`` are keyword-only.
    """

    path: pathlib.Path = attrs.field(converter=pathlib.Path)
    """The file (any path-like)."""
    interval: float = attrs.field(default=1.0, kw_only=True, validator=_validate.positive)
    """Seconds between reads (> 0)."""
    backoff: Backoff = attrs.field(
        default=DEFAULT_BACKOFF, kw_only=True, validator=_validate.backoff
    )
    """Delays between retries after a read error."""
    rng: random.Random | None = attrs.field(default=None, kw_only=True, eq=False)
    """Randomness for the backoff's jitter, for reproducible runs."""
    metrics: DiscoveryMetrics | None = attrs.field(
        default=None, kw_only=True, validator=_validate.metrics
    )
    """Counts updates and errors under ``source="file"``, or ``None``."""

    def __aiter__(self) -> AsyncGenerator[Update, None]:
        tracker = Tracker("file", f"file {os.fspath(self.path)!r}", logger, self.metrics)
        retry = Retry(self.backoff, self.rng if self.rng is not None else random.Random())
        return poll(_FileReader(self.path, self.interval, tracker), tracker, retry)


@attrs.define(eq=False)
class _FileReader:
    """Reads one snapshot of the file; remembers the last bytes, to parse only changes."""

    path: pathlib.Path
    interval: float
    tracker: Tracker
    _last: bytes | None = attrs.field(default=None, init=False)

    async def __call__(self) -> Snapshot:
        try:
            # Abandoned on cancellation: a read that blocks (a FIFO, a hung network
            # filesystem) must not keep the queue's block from exiting.
            data = await trio.to_thread.run_sync(self.path.read_bytes, abandon_on_cancel=True)
        except (FileNotFoundError, NotADirectoryError):
            self._last = None
            return Missing(self.interval)
        except OSError as exc:
            raise TransientError("unavailable", f"cannot read it: {exc.strerror or exc}") from None
        if data == self._last:
            return Unchanged(self.interval)
        self._last = data
        logger.debug("%s: content changed (%d bytes)", self.tracker.name, len(data))
        try:
            endpoints = parse_endpoint_list(data, self.tracker.bad_record)
        except InvalidDocument as exc:
            self.tracker.error("invalid", f"invalid content, keeping the last endpoints: {exc}")
            return Unchanged(self.interval)
        return Found(endpoints, self.interval)
