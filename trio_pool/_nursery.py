"""Unwrapping the group a nursery raises around an entry point's single exception."""

from __future__ import annotations

__all__ = ["raise_single"]


def raise_single(group: BaseExceptionGroup[BaseException]) -> None:
    """Raise the one exception of the nursery's own ``group`` as itself.

    Only the nursery's wrapper comes off: a group that the body raised itself, or that
    a nursery inside it raised, propagates as it was raised.
    """
    if len(group.exceptions) != 1:
        raise group
    single = group.exceptions[0]
    # Raise it as it was: without this, Python would record the group as its context.
    context = single.__context__
    try:
        raise single
    finally:
        single.__context__ = context
        del single, context
