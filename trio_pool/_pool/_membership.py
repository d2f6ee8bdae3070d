"""`Membership`: which ``(address, target)`` pairs a pool holds, made or planned.

A member is *made* when its `Member` record exists (with its load tracker, its state);
a large update *plans* the members past its first few instead: each is one entry of a
dict (its target), made later, in batches, by the pool's runner. Either way it belongs
to the pool from the moment the update is applied: `targets` and `len` count both, and
a member planned is simply not ready yet, as a member made is until its endpoint is.

Why plan: making a `Member` allocates objects, and a Reset of 200,000 endpoints made at
once spends most of its time in the garbage collector, all of it in one tick. Planned,
the update costs a dict entry per endpoint in that tick, and the making is spread over
the ticks after it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from typing import Any, Generic, TypeVar

import attrs

from ._member import Member

__all__ = ["Membership"]

Addr = TypeVar("Addr", bound=Hashable)
T = TypeVar("T")

_ABSENT: Any = object()


@attrs.define(eq=False)
class Membership(Generic[Addr, T]):
    """The members of one pool, made and planned, in the order they joined."""

    made: dict[Addr, Member] = attrs.field(factory=dict)
    """Members whose record exists."""
    planned: dict[Addr, T] = attrs.field(factory=dict)
    """Members not made yet: address -> target."""
    # Planned addresses in the order they joined, by batch (one per update).
    _batches: deque[tuple[int, float, list[tuple[Addr, T]], bool]] = attrs.field(factory=deque)
    # Addresses that left the plan, each with the last batch planned when it left: it
    # is skipped when its turn comes in that batch or an earlier one, and made when it
    # comes in a later one (it joined again). Kept only while batches are left.
    _left: dict[Addr, int] = attrs.field(factory=dict)
    _batch_count: int = 0
    _cursor: int = 0

    def __len__(self) -> int:
        return len(self.made) + len(self.planned)

    def target_of(self, address: Addr) -> Any:
        """The target of ``address``, or `ABSENT`; raises ``TypeError`` if unhashable."""
        member = self.made.get(address)
        if member is not None:
            return member.target
        return self.planned.get(address, _ABSENT)

    def plan(self, joined: float, entries: list[tuple[Addr, T]], warm: bool) -> None:
        """Plan ``entries``, which joined at ``joined`` a pool that was ``warm`` or not,
        to be made later (the list is kept, not copied). None of their addresses may
        be in the pool already."""
        self._batch_count += 1
        # One dict update, in C: a Reset of many endpoints plans them all in one tick.
        self.planned.update(entries)
        self._batches.append((self._batch_count, joined, entries, warm))

    def unplan(self, address: Addr) -> bool:
        """Take ``address`` out of the plan; whether it was in it."""
        if self.planned.pop(address, _ABSENT) is _ABSENT:
            return False
        self._left[address] = self._batch_count
        return True

    def take_planned(self, count: int) -> Iterator[tuple[Addr, T, float, bool]]:
        """Up to ``count`` planned members, in order, each taken out of the plan:
        ``(address, target, joined, warm)``."""
        planned, batches, left = self.planned, self._batches, self._left
        while count and batches:
            batch, joined, entries, warm = batches[0]
            while count and self._cursor < len(entries):
                address = entries[self._cursor][0]
                self._cursor += 1
                if address not in planned:
                    continue  # it left the plan
                if left:
                    gone = left.get(address)
                    if gone is not None:
                        if gone >= batch:
                            continue  # it left after this batch; a later one has it
                        del left[address]
                count -= 1
                yield address, planned.pop(address), joined, warm
            if self._cursor == len(entries):
                batches.popleft()
                self._cursor = 0
        if not batches:
            left.clear()

    def clear_plan(self) -> None:
        self.planned.clear()
        self._left.clear()
        self._batches.clear()
        self._cursor = 0

    def targets(self) -> dict[Addr, T]:
        """Each member's address and target, made ones first."""
        targets = {address: member.target for address, member in self.made.items()}
        targets.update(self.planned)
        return targets


ABSENT: Any = _ABSENT
"""What `Membership.target_of` gives for an address the pool does not hold."""
