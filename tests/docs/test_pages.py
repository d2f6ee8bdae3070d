"""The docs' samples run as written, and fit the page."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trio

DOCS = Path(__file__).parent.parent.parent / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
# What a code block shows without scrolling, at a desktop width (checked by eye on the
# screenshots of nox -s docs_browser).
WIDTH = 80


def python_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def run_page_sample(page: str, index: int) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(python_blocks(page)[index], f"docs/{page}", "exec"), namespace)
    return namespace


def test_the_home_page_sample_runs(capsys: pytest.CaptureFixture[str]) -> None:
    namespace = run_page_sample("index.md", 0)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for n, line in enumerate(lines):
        assert re.fullmatch(rf"10\.0\.0\.[12]:8080 answered 'request {n}'", line), line

    # The metrics sample goes "in main above": with its pool and discovery.
    body = textwrap.indent(python_blocks("index.md")[1], "    ")
    exec(
        compile(f"async def with_metrics(pool, discovery):\n{body}", "index.md", "exec"), namespace
    )
    pool = namespace["trio_pool"].P2CPool(namespace["Backend"])
    discovery = namespace["StaticDiscovery"].from_addresses([("10.0.0.1", 8080)])
    trio.run(namespace["with_metrics"], pool, discovery)
    text = capsys.readouterr().out
    assert 'trio_pool_queue_requests_total{service="users"} 1.0' in text


def test_the_memory_channel_sample_runs(capsys: pytest.CaptureFixture[str]) -> None:
    run_page_sample("concepts.md", 0)
    first, second = capsys.readouterr().out.splitlines()
    assert first in ("alpha answered 'hello'", "beta answered 'hello'")
    assert second == "beta answered 'hello again'", "alpha was removed while idle"


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_compile(page: str) -> None:
    # Fragments may await at the top, as in an async function of the reader's.
    for block in python_blocks(page):
        compile(block, page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.parametrize(
    "page",
    ["index.md", "concepts.md", "discovery.md", "metrics.md", "httpx.md", "api/index.md"],
)
def test_python_blocks_fit_the_page(page: str) -> None:
    for block in python_blocks(page):
        for line in block.splitlines():
            assert len(line) <= WIDTH, f"{page}: {len(line)} characters: {line}"
