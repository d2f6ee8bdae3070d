"""The complete examples in the docs run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

DOCS = Path(__file__).parent.parent / "docs"


def python_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_testing_guide_pool_conforms() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(python_blocks("testing.md")[0], "docs/testing.md", "exec"), namespace)
    namespace["test_first_ready_pool_conforms"]()


async def test_the_testing_guide_scenario(autojump_clock: trio.testing.MockClock) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(python_blocks("testing.md")[1], "docs/testing.md", "exec"), namespace)
    await namespace["test_a_caller_that_leaves_at_dispatch_leaks_nothing"](autojump_clock)


@pytest.mark.parametrize("page", ["testing.md"])
def test_python_blocks_compile(page: str) -> None:
    for block in python_blocks(page):
        compile(block, page, "exec")


async def test_the_own_pool_example_runs(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace: dict[str, Any] = {"__name__": "example"}
    path = DOCS.parent / "examples" / "own_pool.py"
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    await namespace["main"]()
    out = capsys.readouterr().out
    assert "beta answered 'hello again'" in out, "alpha was removed while idle"
    assert "FailFastError" in out
    assert "gamma answered 'welcome back'" in out
