"""`WatchedDiscovery`: an authority's discovery stream, seen on its way to the pool.

What the transport keeps about addresses goes when discovery removes them: an
endpoint's metric series, the mark of an address whose connection was refused. The pool
says nothing when it evicts a member, so the transport watches the updates instead:
each one is shown to ``on_update`` the moment the queue takes it, just before the pool
applies it (nothing runs in between); `leaving` says which of what is kept it removes.

Ownership stays as the queue sees it without the watch: a stream that is its own
iterator (a memory receive channel) is left to its owner to close; an iterator made by
``__aiter__``, or an async generator, is closed when the queue is done with it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Hashable
from typing import TypeVar

import attrs

from .._update import DoesNotExist, Remove, Reset, Update

__all__ = ["WatchedDiscovery", "leaving"]

K = TypeVar("K", bound=Hashable)


def leaving(update: Update, held: Collection[K], key: Callable[[Hashable], K]) -> list[K]:
    """Of ``held`` (kept by ``key(address)``), those that ``update`` removes: absent from
    a `Reset`, named by a `Remove`, all of them for `DoesNotExist`."""
    if not held:
        return []
    if isinstance(update, Reset):
        keep = {key(address) for address, _ in update.endpoints}
        return [item for item in held if item not in keep]
    if isinstance(update, Remove):
        return [item for item in map(key, update.addresses) if item in held]
    if isinstance(update, DoesNotExist):
        return list(held)
    return []


@attrs.define(eq=False)
class WatchedDiscovery:
    """``discovery``, with each update shown to ``on_update`` as it passes."""

    _discovery: AsyncIterable[Update]
    _on_update: Callable[[Update], None]

    def __aiter__(self) -> _WatchedIterator:
        updates = aiter(self._discovery)
        owned = inspect.isasyncgen(updates) or updates is not self._discovery
        return _WatchedIterator(updates, self._on_update, owned)


@attrs.define(eq=False)
class _WatchedIterator:
    _updates: AsyncIterator[Update]
    _on_update: Callable[[Update], None]
    _owned: bool

    def __aiter__(self) -> _WatchedIterator:
        return self

    async def __anext__(self) -> Update:
        update = await anext(self._updates)
        self._on_update(update)
        return update

    async def aclose(self) -> None:
        """Close the underlying iterator if the queue would have closed it."""
        aclose = getattr(self._updates, "aclose", None)
        if self._owned and aclose is not None:
            await aclose()
