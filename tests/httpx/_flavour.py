"""The HTTP library and the transport under test here: httpx and `trio_pool.httpx`.

The test modules of this folder take both from this module, never by importing them
themselves: ``tests/httpx2`` runs the very same modules with a ``_flavour`` of its own,
which binds httpx2 and `trio_pool.httpx2`.
"""

import httpcore
import httpx

from trio_pool import httpx as balanced
from trio_pool.httpx import *  # noqa: F403 - the transport's public names
from trio_pool.httpx import _connections, _endpoint, _errors, _retry, _retry_after, _stream

NAME = "httpx"
"""The library's name, and the transport package's (``trio_pool.httpx``)."""

__all__ = [  # noqa: PLE0604 - the transport's names too
    "NAME",
    "_connections",
    "_endpoint",
    "_errors",
    "_retry",
    "_retry_after",
    "_stream",
    "balanced",
    "httpcore",
    "httpx",
    *balanced.__all__,
]
