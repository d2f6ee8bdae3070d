"""Plots of the balance benchmark: per scenario, how many requests went badly, by policy.

Reads the JSON that ``bench_balance.py --json PATH`` wrote and draws, for each scenario,
the fraction of requests that failed or were slower than x, per policy, on log axes
where tails show. A failed request counts as slower than any latency, so the curve of
a policy that loses requests levels off at its failure rate instead of reaching zero:
where latencies are alike (one endpoint failing fast), the floor is what differs.
Writes one PNG per scenario and an overview of them all.

    ./dev python benchmarks/plot_balance.py RESULTS.json OUTPUT_DIR
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

COLOURS = {
    "p2c_peak_ewma": "#1b9e77",
    "p2c_pending": "#7570b3",
    "least_loaded": "#66a61e",
    "round_robin": "#d95f02",
    "random": "#e7298a",
}
LABELS = {
    "p2c_peak_ewma": "P2C + Peak-EWMA",
    "p2c_pending": "P2C + pending",
    "least_loaded": "least loaded",
    "round_robin": "round robin",
    "random": "random",
}
TITLES = {
    "healthy": "all healthy, 20 % load",
    "one_slow": "one endpoint 10x slower",
    "one_failing": "one endpoint failing in 1 ms",
    "turns_slow": "one turning 10x slower halfway",
    "busy": "all healthy, 75 % load",
}
# Random and round robin often coincide: one of them dashed, so both show.
LINESTYLES = {"random": "--"}
X_RANGE_MS = (1.0, 1e5)


def failures_of(figures: dict[str, Any]) -> int:
    """Failed requests; older result files have only the success rate."""
    if "failures" in figures:
        return int(figures["failures"])
    served = len(figures["latencies_ms"])
    success = float(figures["success"])
    return round(served / success) - served if success else 0


def bad_requests(ax: Any, figures: dict[str, Any], policy: str) -> float:
    """Draw one policy's curve; return its floor (the failure rate)."""
    latencies: list[float] = figures["latencies_ms"]
    failures = failures_of(figures)
    total = len(latencies) + failures
    if not total:
        return math.nan
    # At the i-th fastest success, the requests still worse: the slower successes
    # and every failure. Failures never get better: their floor runs to the right edge;
    # without any, the curve ends at the slowest success, as a plain CCDF does.
    xs = [X_RANGE_MS[0], *latencies]
    ys = [1.0, *((total - i) / total for i in range(len(latencies)))]
    if failures:
        xs.append(X_RANGE_MS[1])
        ys.append(failures / total)
    ax.step(
        xs,
        ys,
        where="post",
        label=LABELS.get(policy, policy),
        color=COLOURS.get(policy, "grey"),
        linestyle=LINESTYLES.get(policy, "-"),
        linewidth=1.4,
    )
    return failures / total


def draw(ax: Any, scenario: str, by_policy: dict[str, Any], *, legend: bool = True) -> None:
    floors = [bad_requests(ax, figures, policy) for policy, figures in by_policy.items()]
    smallest = min([f for f in floors if f > 0] + [1e-4])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*X_RANGE_MS)
    ax.set_ylim(min(1e-4, smallest / 2), 1.05)
    ax.set_title(TITLES.get(scenario, scenario))
    ax.set_xlabel("latency x (ms)")
    ax.set_ylabel("fraction failed or slower than x")
    ax.grid(True, which="both", alpha=0.3)
    if legend:
        ax.legend(fontsize="small")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    args.output.mkdir(parents=True, exist_ok=True)
    scenarios: dict[str, Any] = data["results"]
    for scenario, by_policy in scenarios.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        draw(ax, scenario, by_policy)
        fig.tight_layout()
        fig.savefig(args.output / f"balance_{scenario}.png", dpi=110)
        plt.close(fig)
    # The overview: every scenario on a grid of three columns, one legend for all.
    columns = 3
    rows = math.ceil((len(scenarios) + 1) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.6 * rows), squeeze=False)
    cells = list(axes.flat)
    for ax, (scenario, by_policy) in zip(cells, scenarios.items(), strict=False):
        draw(ax, scenario, by_policy, legend=False)
    handles, labels = cells[0].get_legend_handles_labels()
    for ax in cells[len(scenarios) :]:
        ax.axis("off")
    cells[-1].legend(handles, labels, loc="center", fontsize="large", title="policy")
    fig.tight_layout()
    fig.savefig(args.output / "balance_overview.png", dpi=90)
    plt.close(fig)
    print(f"wrote {len(scenarios) + 1} plots to {args.output}")


if __name__ == "__main__":
    main()
