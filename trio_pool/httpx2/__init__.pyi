# The names of trio_pool.httpx, over httpx2's classes: see __init__.py. A stub cannot
# say "trio_pool.httpx's API with httpx2 in place of httpx", so type checkers see Any.
from typing import Any

def __getattr__(name: str) -> Any: ...
