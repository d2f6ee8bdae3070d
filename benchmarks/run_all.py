"""Run every benchmark, keep its output and figures, and draw the balance plots.

Each ``bench_*.py`` runs in its own process; its output goes to
``benchmarks/results/NAME.txt`` and its closing JSON line to ``results/NAME.json``. The
balance benchmark also writes every latency, from which ``plot_balance.py`` draws the
plots of the docs' benchmarks page into ``docs/img``; the resilience benchmark writes
its series, from which ``plot_resilience.py`` draws those of the resilience page; the
health and fleet benchmarks draw their own.

    ./dev bench          (or: nox -s bench)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
# The benchmarks that write series for plots: the file, and the script that draws them.
SERIES = {"balance": "balance_latencies.json", "resilience": "resilience_series.json"}
PLOTS = {"balance": "plot_balance.py", "resilience": "plot_resilience.py"}


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    failed = []
    for bench in sorted(HERE.glob("bench_*.py")):
        name = bench.stem.removeprefix("bench_")
        extra = ["--json", str(RESULTS / SERIES[name])] if name in SERIES else []
        if name in ("health", "fleet"):
            extra = ["--plots", str(HERE.parent / "docs" / "img")]
        print(f"== {bench.name}", flush=True)
        run = subprocess.run(
            [sys.executable, str(bench), *extra], capture_output=True, text=True, check=False
        )
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr)
        (RESULTS / f"{name}.txt").write_text(run.stdout)
        lines = run.stdout.strip().splitlines()
        if run.returncode or not lines:
            failed.append(bench.name)
            continue
        (RESULTS / f"{name}.json").write_text(lines[-1] + "\n")
    for name, plot in PLOTS.items():
        if (RESULTS / SERIES[name]).exists():
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / plot),
                    str(RESULTS / SERIES[name]),
                    str(HERE.parent / "docs" / "img"),
                ],
                check=True,
            )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
