"""The HTTP library the transport is built on: here httpx2, over httpcore2.

The modules of ``trio_pool.httpx`` run here too (see ``__init__``); each takes the
library from this module, which binds httpx2 under the name ``httpx``.
"""

try:
    import httpcore2 as httpcore
    import httpx2 as httpx
except ModuleNotFoundError as missing:  # say which extra brings it
    if missing.name not in ("httpx2", "httpcore2"):
        raise
    raise ModuleNotFoundError(
        "trio_pool.httpx2 needs httpx2, from the 'httpx2' extra: pip install 'trio-pool[httpx2]'",
        name=missing.name,
    ) from missing

NAME = "httpx2"
"""The library's name, as messages quote it."""

__all__ = ["NAME", "httpcore", "httpx"]
