"""`Tracker`: what a source has reported so far, and the updates that tell what changed.

Every built-in source reduces what it reads to a full set of endpoints (a snapshot)
and hands it to a tracker, which turns it into updates: a `Reset` the first time (and
after `DoesNotExist`, or whenever a source asks for one), then only the difference,
as an `Add` of new and changed endpoints followed by a `Remove` of the vanished ones.
Adding first means that when one endpoint replaces another, the pool starts connecting
to the new one before it lets go of the old.

The tracker also owns the source's logging and metrics, so that every source logs a
skipped record or a failure the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs

from .._update import Add, DoesNotExist, Remove, Reset, Update
from ._metrics import DiscoveryMetrics, ErrorKind

__all__ = ["Tracker"]


@attrs.define(eq=False)
class Tracker:
    """The state of one iteration of a source: one per ``__aiter__`` call."""

    source: str
    """The ``source`` metric label: ``"file"``, ``"dns"``..."""
    name: str
    """What the source watches, for log lines: ``"file '/etc/app/endpoints.json'"``."""
    logger: logging.Logger
    metrics: DiscoveryMetrics | None
    _reported: dict[Any, Any] | None = attrs.field(default=None, init=False)
    _missing: bool = attrs.field(default=False, init=False)

    @property
    def reported(self) -> Mapping[Any, Any] | None:
        """The endpoints last reported, or ``None`` before the first report and after
        `DoesNotExist`."""
        return self._reported

    def reset(self, endpoints: Mapping[Any, Any]) -> list[Update]:
        """Report ``endpoints`` as a `Reset`, whatever was reported before."""
        self._missing = False
        self._reported = dict(endpoints)
        return [self._count(Reset(self._reported.items()))]

    def changes(self, endpoints: Mapping[Any, Any]) -> list[Update]:
        """Report ``endpoints``: a `Reset` if nothing is reported yet, else the difference
        (none if nothing changed)."""
        previous = self._reported
        if previous is None:
            return self.reset(endpoints)
        added = [
            (address, target)
            for address, target in endpoints.items()
            if address not in previous or previous[address] != target
        ]
        removed = [address for address in previous if address not in endpoints]
        self._reported = dict(endpoints)
        updates: list[Update] = []
        if added:
            updates.append(self._count(Add(added)))
        if removed:
            updates.append(self._count(Remove(removed)))
        return updates

    def does_not_exist(self) -> list[Update]:
        """Report that the name is gone: `DoesNotExist`, unless that is already reported."""
        if self._missing:
            return []
        self._missing = True
        self._reported = None
        return [self._count(DoesNotExist())]

    def bad_record(self, where: str, why: str) -> None:
        """Log and count a record that is skipped."""
        self.logger.warning("%s: skipping the record at %s: %s", self.name, where, why)
        self._count_error("bad_record")

    def error(self, kind: ErrorKind, message: str, *, retry_in: float | None = None) -> None:
        """Log and count a failure after which the last reported set stays in force
        (until the retry, ``retry_in`` seconds later, if one is due)."""
        if retry_in is None:
            self.logger.warning("%s: %s", self.name, message)
        else:
            self.logger.warning(
                "%s: %s; keeping the last endpoints, retrying in %.3g s",
                self.name,
                message,
                retry_in,
            )
        self._count_error(kind)

    def _count_error(self, kind: ErrorKind) -> None:
        if self.metrics is not None:
            self.metrics.record_error(self.source, kind)

    def _count(self, update: Update) -> Update:
        self.logger.debug("%s: %r", self.name, update)
        if self.metrics is not None:
            self.metrics.record_update(self.source, update)
            count = len(self._reported) if self._reported is not None else 0
            self.metrics.set_endpoints(self.source, count)
        return update
