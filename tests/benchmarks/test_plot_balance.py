"""The balance plots draw what differs: failed requests as well as slow ones."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PLOT = Path(__file__).parent.parent.parent / "benchmarks" / "plot_balance.py"


@pytest.fixture(scope="module")
def plot() -> ModuleType:
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("plot_balance", PLOT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figures(latencies: list[float], failures: int) -> dict[str, Any]:
    total = len(latencies) + failures
    return {"latencies_ms": latencies, "failures": failures, "success": len(latencies) / total}


def test_a_policy_that_fails_levels_off_at_its_failure_rate(plot: ModuleType) -> None:
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy  # noqa: PLC0415

    fig, ax = plt.subplots()
    floor = plot.bad_requests(ax, figures([1.0, 2.0, 3.0], failures=1), "round_robin")
    (line,) = ax.get_lines()
    xs: list[float] = numpy.asarray(line.get_xdata(), dtype=float).tolist()
    ys: list[float] = numpy.asarray(line.get_ydata(), dtype=float).tolist()
    assert floor == 0.25
    assert ys == [1.0, 1.0, 0.75, 0.5, 0.25], "each failure stays worse than any latency"
    assert xs[-1] == plot.X_RANGE_MS[1], "the floor runs to the right edge"
    healthy = plot.bad_requests(ax, figures([1.0, 2.0], failures=0), "p2c_peak_ewma")
    assert healthy == 0.0
    last = numpy.asarray(ax.get_lines()[1].get_xdata(), dtype=float)[-1]
    assert last == 2.0, "no floor without failures"
    plt.close(fig)


def test_older_results_without_a_failure_count_still_plot(plot: ModuleType) -> None:
    assert plot.failures_of({"latencies_ms": [1.0] * 90, "success": 0.9}) == 10


def test_every_scenario_and_the_overview_are_written(
    plot: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = {
        scenario: {
            "p2c_peak_ewma": figures([5.0, 6.0, 7.0], 0),
            "round_robin": figures([5.0, 6.0], 1),
        }
        for scenario in ("healthy", "one_failing")
    }
    data = tmp_path / "results.json"
    data.write_text(json.dumps({"requests": 3, "seed": 1, "results": results}))
    monkeypatch.setattr(sys, "argv", ["plot_balance.py", str(data), str(tmp_path / "img")])
    plot.main()
    written = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert written == ["balance_healthy.png", "balance_one_failing.png", "balance_overview.png"]
