"""`apply_update`: one discovery update, applied to any `Pool`."""

from __future__ import annotations

from typing import Any

from .._update import Add, DoesNotExist, Remove, Reset, Update
from ._protocol import Pool

__all__ = ["apply_update"]


def apply_update(pool: Pool[Any, Any, Any, Any], update: Update) -> None:
    """Apply one discovery update to ``pool``.

    Raises ``TypeError`` if ``update`` is not an `Update`.
    """
    if isinstance(update, Reset):
        pool.reset_pool(update.endpoints)
    elif isinstance(update, Add):
        for address, target in update.endpoints:
            pool.add_endpoint(address, target)
    elif isinstance(update, Remove):
        for address in update.addresses:
            pool.remove_endpoint(address)
    elif isinstance(update, DoesNotExist):
        pool.reset_pool(())
    else:
        raise TypeError(
            f"discovery yielded {update!r} ({type(update).__name__}); "
            "expected Reset, Add, Remove or DoesNotExist"
        )
