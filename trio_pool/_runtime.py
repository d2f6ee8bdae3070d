"""`require_trio`: a clear error for trio-pool's entry points when they run under
another event loop (asyncio), where Trio's own error says nothing a user can act on."""

from __future__ import annotations

import sniffio

__all__ = ["require_trio"]


def require_trio(entry_point: str) -> None:
    """Raise ``RuntimeError`` unless the caller runs under Trio.

    Under asyncio, Trio's functions fail deep inside with ``AttributeError: 'RunContext'
    object has no attribute 'runner'``; this says what to do instead.
    """
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return  # not in any event loop that sniffio knows: Trio will say what is wrong
    if library != "trio":
        raise RuntimeError(
            f"{entry_point} runs under Trio, and this code runs under {library}: "
            "trio-pool is built on Trio; start the program with trio.run(main) "
            "(or anyio.run(main, backend='trio'))"
        )
