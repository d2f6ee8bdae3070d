"""The resilience benchmark meets its goals on a short run, and its plots are drawn."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ._load import load


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load("bench_resilience")


def test_the_budget_holds_the_storm(bench: ModuleType) -> None:
    figures, _ = bench.storm(10.0, 1)
    assert figures["storm_calls_per_request_no_budget"] == 3.0
    assert figures["storm_calls_per_request_budget"] <= figures["storm_budget_bound"]
    assert figures["storm_calls_per_request_budget"] > 1.2, "the budget grants its share"


def test_retries_recover_most_of_a_partial_failure(bench: ModuleType) -> None:
    figures, _ = bench.partial(10.0, 1)
    assert figures["partial_success_without_retries"] == pytest.approx(0.7, abs=0.01)
    assert figures["partial_success_with_retries"] > 0.85
    assert figures["partial_success_ample_budget"] > 0.97


def test_hedging_cuts_the_tail_for_a_few_percent_more_calls(bench: ModuleType) -> None:
    figures, _ = bench.tail(10.0, 1)
    assert figures["tail_p999_vs_unhedged_hedged"] <= 0.1
    assert figures["tail_extra_calls_hedged"] <= 0.055
    assert figures["tail_extra_calls_hedged_p98"] <= 0.025


def test_a_run_is_deterministic(bench: ModuleType) -> None:
    assert bench.storm(2.0, 7)[0] == bench.storm(2.0, 7)[0]


def test_the_plots_are_written(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    plot = load("plot_resilience")
    series = {
        "storm": bench.storm(2.0, 1)[1],
        "partial": bench.partial(2.0, 1)[1],
        "tail": bench.tail(2.0, 1)[1],
    }
    data = tmp_path / "series.json"
    data.write_text(json.dumps({"seconds": 2.0, "seed": 1, "series": series}))
    monkeypatch.setattr(sys, "argv", ["plot_resilience.py", str(data), str(tmp_path / "img")])
    plot.main()
    written = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert written == ["resilience_partial.png", "resilience_storm.png", "resilience_tail.png"]
