"""The fleet benchmark: the least-loaded pool meets its goals on short runs, a run is
repeatable, and the plots are drawn."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from ._load import load


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load("bench_fleet")


def test_tower_demo_least_loaded_keeps_off_the_slow_endpoints(bench: ModuleType) -> None:
    least, _ = bench.simulate(bench.tower_demo, "least_loaded", 1, 10_000, seed=1)
    p2c, _ = bench.simulate(bench.tower_demo, "p2c_peak_ewma", 1, 10_000, seed=1)
    # P2C's two picks are both among the five slow endpoints a fifth of the time: its
    # p99 sits in the 100 ms endpoints' range, as tower published.
    assert 50 <= p2c["p99_ms"] <= 110
    assert least["p99_ms"] <= 0.2 * bench.TOWER_PUBLISHED["p99_ms"]
    assert least["wall_s"] < p2c["wall_s"]


def test_three_slow_servers_least_loaded_halves_the_tail(bench: ModuleType) -> None:
    scenario = next(s for s in bench.FLEETS if s.name == "three_slow")
    p99 = {
        policy: bench.fleet_figures(bench.simulate(bench.fleet, scenario, policy, 3.0, 1, seed=1))[
            "p99_ms"
        ]
        for policy in ("least_loaded", "p2c_peak_ewma")
    }
    assert p99["least_loaded"] <= 0.6 * p99["p2c_peak_ewma"]


def test_a_run_is_repeatable(bench: ModuleType) -> None:
    scenario = bench.FLEETS[0]
    runs = [bench.simulate(bench.fleet, scenario, "least_loaded", 0.5, 3, seed=3) for _ in "ab"]
    assert runs[0].latencies == runs[1].latencies
    assert runs[0].longest_queue == runs[1].longest_queue


def test_the_plots_are_written(bench: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    demo = {
        policy: bench.simulate(bench.tower_demo, policy, 1, 500, seed=1)[1]
        for policy in bench.POLICIES
    }
    fleets = {
        scenario.name: {
            policy: bench.simulate(bench.fleet, scenario, policy, 0.3, 1, seed=1)
            for policy in bench.POLICIES
        }
        for scenario in bench.FLEETS
    }
    bench.plot(demo, fleets, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet_herding.png", "fleet_latency.png"]
