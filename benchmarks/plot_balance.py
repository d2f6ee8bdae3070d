"""Plots of the balance benchmark: latency distributions per policy and scenario.

Reads the JSON that ``bench_balance.py --json PATH`` wrote and draws, for each scenario,
the complementary CDF of latency per policy on log axes, where tails show: the fraction
of requests slower than x. Writes one PNG per scenario and one overview.

    ./dev python benchmarks/plot_balance.py RESULTS.json OUTPUT_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

COLOURS = {
    "p2c_peak_ewma": "#1b9e77",
    "p2c_pending": "#7570b3",
    "round_robin": "#d95f02",
    "random": "#e7298a",
}


def ccdf(ax: Any, latencies_ms: list[float], label: str, colour: str) -> None:
    n = len(latencies_ms)
    if not n:
        return
    ys = [1 - i / n for i in range(n)]
    ax.step(latencies_ms, ys, where="post", label=label, color=colour, linewidth=1.4)


def draw(ax: Any, scenario: str, by_policy: dict[str, Any]) -> None:
    for policy, figures in by_policy.items():
        ccdf(ax, figures["latencies_ms"], policy, COLOURS.get(policy, "grey"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1.05)
    ax.set_title(scenario)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of requests slower")
    ax.grid(True, which="both", alpha=0.3)
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
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 3.8))
    for ax, (scenario, by_policy) in zip(axes, scenarios.items(), strict=True):
        draw(ax, scenario, by_policy)
    fig.tight_layout()
    fig.savefig(args.output / "balance_overview.png", dpi=90)
    plt.close(fig)
    print(f"wrote {len(scenarios) + 1} plots to {args.output}")


if __name__ == "__main__":
    main()
