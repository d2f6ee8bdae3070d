"""Plots of the resilience benchmark: the retry storm, partial failure and the tail.

Reads the JSON that ``bench_resilience.py --json PATH`` wrote and draws three PNGs:

- ``resilience_storm.png``: calls sent per second while every endpoint fails, with the
  default budget and with ``attempts=3`` alone, over the requests per second;
- ``resilience_partial.png``: the success rate, second by second, with 3 of 10
  endpoints failing, without retries and with them under two budgets;
- ``resilience_tail.png``: the fraction of requests slower than x, on log axes where the
  tail shows, with and without hedging.

    ./dev python benchmarks/plot_resilience.py RESULTS.json OUTPUT_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

STORM = {"no_budget": ("attempts=3, no budget", "#d95f02"), "budget": ("default budget", "#1b9e77")}
PARTIAL = {
    "without_retries": ("no retries", "#d95f02", "-"),
    "with_retries": ("default budget", "#1b9e77", "-"),
    "with_retries_blind": ("default budget, pool can't tell", "#1b9e77", ":"),
    "ample_budget": ("percent=0.5", "#7570b3", "-"),
    "ample_budget_blind": ("percent=0.5, pool can't tell", "#7570b3", ":"),
}
TAIL = {
    "unhedged_ms": ("no hedging", "#d95f02"),
    "hedged_ms": ("Hedging() (95th percentile)", "#1b9e77"),
    "hedged_p98_ms": ("Hedging(percentile=0.98)", "#7570b3"),
}


def storm(ax: Any, series: dict[str, list[list[int]]]) -> None:
    """Calls per second of each run; requests per second as the dashed floor."""
    # The last second is partial: the arrivals stop within it.
    for name, (label, colour) in STORM.items():
        seconds = series[name][:-1]
        ax.plot([calls for _, calls, _ in seconds], label=label, color=colour)
    requests = [requests for requests, _, _ in series["budget"][:-1]]
    ax.plot(requests, label="requests", color="grey", linestyle="--")
    ax.set_ylim(bottom=0)
    ax.set_title("every endpoint failing: calls sent")
    ax.set_xlabel("second of the run")
    ax.set_ylabel("calls per second")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")


def partial(ax: Any, series: dict[str, list[list[int]]]) -> None:
    """Success rate per second of each run."""
    for name, (label, colour, style) in PARTIAL.items():
        seconds = [s for s in series[name][:-1] if s[0]]
        ax.plot(
            [1 - failures / requests for requests, _, failures in seconds],
            label=label,
            color=colour,
            linestyle=style,
        )
    ax.set_ylim(0.6, 1.01)
    ax.set_title("3 of 10 endpoints failing, round robin: success")
    ax.set_xlabel("second of the run")
    ax.set_ylabel("requests that succeeded")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")


def tail(ax: Any, series: dict[str, list[float]]) -> None:
    """The fraction of requests slower than x, per run."""
    for name, (label, colour) in TAIL.items():
        latencies = series[name]
        total = len(latencies)
        ys = [(total - i) / total for i in range(total)]
        ax.step(latencies, ys, where="post", label=label, color=colour, linewidth=1.4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1.05)
    ax.axhline(1e-3, color="grey", linewidth=0.8, linestyle="--")
    ax.text(1.1 * min(series["hedged_ms"]), 1.15e-3, "p99.9", color="grey", fontsize="small")
    ax.set_title("1 % of calls stall 1 s: the tail")
    ax.set_xlabel("latency x (ms)")
    ax.set_ylabel("fraction slower than x")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    series: dict[str, Any] = json.loads(args.results.read_text())["series"]
    args.output.mkdir(parents=True, exist_ok=True)
    for name, draw in (("storm", storm), ("partial", partial), ("tail", tail)):
        fig, ax = plt.subplots(figsize=(6, 4))
        draw(ax, series[name])
        fig.tight_layout()
        fig.savefig(args.output / f"resilience_{name}.png", dpi=110)
        plt.close(fig)
    print(f"wrote 3 plots to {args.output}")


if __name__ == "__main__":
    main()
