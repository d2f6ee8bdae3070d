"""The httpx page's examples: the complete one runs against loopback backends."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..support.http_servers import Backend, open_backends

PAGE = Path(__file__).parents[2] / "docs" / "httpx.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def test_every_example_compiles() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 2, "the page shows a static and a DNS example"
    for block in blocks:
        compile(block, str(PAGE), "exec")


async def test_the_complete_example_runs() -> None:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(python_blocks()[0], str(PAGE), "exec"), namespace)
    async with open_backends(Backend("a"), Backend("b")) as backends:
        names = await namespace["fetch_users"]([b.address for b in backends])
    assert len(names) == 10
    assert set(names) <= {"a", "b"}
    assert {seen.host for b in backends for seen in b.seen} == {"users.internal"}
