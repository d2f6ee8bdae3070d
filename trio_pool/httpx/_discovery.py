"""`WatchedDiscovery`: an authority's discovery stream, seen on its way to the pool.

The transport's metrics drop an endpoint's series when discovery removes its address.
The pool says nothing when it evicts a member, so the transport watches the updates
instead: each one is shown to ``on_update`` the moment the queue takes it, just before
the pool applies it (nothing runs in between).

Ownership stays as the queue sees it without the watch: a stream that is its own
iterator (a memory receive channel) is left to its owner to close; an iterator made by
``__aiter__``, or an async generator, is closed when the queue is done with it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Callable

import attrs

from .._update import Update

__all__ = ["WatchedDiscovery"]


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
