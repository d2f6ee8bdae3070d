"""The HTTP library the transport is built on: here httpx, over httpcore.

Every module of the transport takes the library from this one, never by importing it
itself: ``trio_pool.httpx2`` runs the very same modules, whose ``_flavour`` there binds
httpx2 and httpcore2 (see ``trio_pool/httpx2/__init__.py``).
"""

try:
    import httpcore
    import httpx
except ModuleNotFoundError as missing:  # say which extra brings it
    if missing.name not in ("httpx", "httpcore"):
        raise
    raise ModuleNotFoundError(
        "trio_pool.httpx needs httpx, from the 'httpx' extra: pip install 'trio-pool[httpx]'",
        name=missing.name,
    ) from missing

NAME = "httpx"
"""The library's name, as messages quote it."""

__all__ = ["NAME", "httpcore", "httpx"]
