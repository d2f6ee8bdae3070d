"""The HTTP library and the transport under test here: httpx2 and `trio_pool.httpx2`
(see ``tests/httpx/_flavour.py``, whose names these are)."""

import importlib
from typing import Any

import httpcore2 as httpcore
import httpx2 as httpx

from trio_pool import httpx2 as balanced
from trio_pool.httpx2 import *  # noqa: F403 - the transport's public names


def _private(name: str) -> Any:
    # The transport's private modules, as this package runs them (type checkers cannot
    # follow trio_pool.httpx2's shared modules: see its __init__).
    return importlib.import_module(f"trio_pool.httpx2.{name}")


_connections = _private("_connections")
_endpoint = _private("_endpoint")
_errors = _private("_errors")
_retry = _private("_retry")
_retry_after = _private("_retry_after")
_stream = _private("_stream")

NAME = "httpx2"

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
