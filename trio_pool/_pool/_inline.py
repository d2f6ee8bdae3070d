"""Awaiting a coroutine in the current task, and learning whether it would block.

``await coroutine`` gives no sign of whether the coroutine completed without yielding
to the event loop. `await_inline` does what ``await`` does, step by step (the coroutine
protocol of PEP 492: ``send``, ``throw``, ``close``, forwarding each value it yields to
the event loop unchanged), and calls ``on_block`` at the moment the coroutine is about to
yield for the first time, before it does. That moment is the last one at which the
current task may still decide what to do about the wait, as long as the decision needs
no cancel scope entered *then* (a scope the coroutine did not run under from its first
step would corrupt Trio's scope stack); one entered before the call can be cancelled:

- a pool that re-arms an endpoint's readiness in a caller's task runs it in a cancel
  scope of its own and cancels that scope there, so a ``ready()`` that would wait is
  cancelled at once, and is left to a task of the pool's, instead of holding up the
  caller;
- the pool's `Runner` hands the rest of its queue to another task, and stays with the
  wait.

The values forwarded are the event loop's own business, untouched: the coroutine runs
in the current task exactly as if it had been awaited, only observed.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["await_inline"]

Item = TypeVar("Item")


@types.coroutine
def await_inline(
    coroutine: Coroutine[Any, Any, Any], on_block: Callable[[Item], object], item: Item
) -> Generator[Any, Any, bool]:
    """Await ``coroutine``; return whether it yielded to the event loop.

    If it completes without yielding, ``on_block`` is never called. Otherwise
    ``on_block(item)`` is called just before its first yield. Exceptions propagate as
    from ``await``.
    """
    try:
        step = coroutine.send(None)
    except StopIteration:
        return False
    on_block(item)
    while True:
        try:
            value = yield step
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as exc:
            try:
                step = coroutine.throw(exc)
            except StopIteration:
                return True
        else:
            try:
                step = coroutine.send(value)
            except StopIteration:
                return True
