"""`PoolModel`: the reference model of a pool's membership."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import attrs

from .._update import Add, DoesNotExist, Remove, Reset, Update

__all__ = ["PoolModel"]

_ABSENT = object()


@attrs.define(eq=False)
class PoolModel:
    """What a pool must hold after a sequence of updates: address -> target."""

    members: dict[Hashable, Any] = attrs.field(factory=dict)

    def apply(self, update: Update) -> int:
        """Apply ``update``; return how many membership changes a pool counts for it.

        That is the rule of the shipped pools' ``updates`` metric: one for a `Reset` (or
        `DoesNotExist`) that changes anything, one per endpoint of an `Add` that is new
        or has a new target, one per address of a `Remove` that was a member.
        """
        members = self.members
        if isinstance(update, Reset | DoesNotExist):
            new = dict(update.endpoints) if isinstance(update, Reset) else {}
            changed = int(new != members)
            self.members = new
            return changed
        if isinstance(update, Add):
            changed = 0
            for address, target in update.endpoints:
                changed += not self.holds(address, target)
                members[address] = target
            return changed
        if isinstance(update, Remove):
            return sum(members.pop(a, _ABSENT) is not _ABSENT for a in update.addresses)
        raise TypeError(f"not an update: {update!r}")

    def holds(self, address: Hashable, target: Any) -> bool:
        """Whether ``(address, target)`` is a member now."""
        return address in self.members and self.members[address] == target
