"""The resilience guide's sample runs as written and prints what the page says."""

from __future__ import annotations

import re

import pytest

from tests.docs.test_pages import WIDTH, python_blocks, run_page_sample


def test_the_retry_sample_runs(capsys: pytest.CaptureFixture[str]) -> None:
    run_page_sample("resilience.md", 0)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for n, line in enumerate(lines):
        assert re.fullmatch(rf"10\.0\.0\.2:? ?answered 'request {n}'", line), line


def test_the_samples_fit_the_page() -> None:
    for block in python_blocks("resilience.md"):
        for line in block.splitlines():
            assert len(line) <= WIDTH, line
