"""The demo's terminal view: per-backend share and latency, side by side."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from ._backends import Backend
from ._traffic import BalancerStats

__all__ = ["render", "summary"]


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1e3:.1f}"


def render(
    backends: Sequence[Backend],
    *,
    members: set[str],
    balancers: Sequence[BalancerStats],
    elapsed: float,
    duration: float,
    metrics_url: str | None,
) -> Table:
    """The table: one row per backend (its share of each balancer's requests), then the
    balancers' figures; the title gives the time and, while it is served, the metrics page.
    """
    title = f"trio-pool demo: {elapsed:4.1f} / {duration:g} s"
    if metrics_url is not None:
        title += f"   metrics: {metrics_url}"
    table = Table(title=title, title_justify="left")
    # The first column holds the figures' labels too: never wrapped, so that each
    # stays on one row however narrow the terminal.
    table.add_column("backend", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("in discovery", justify="center")
    for stats in balancers:
        table.add_column(f"{stats.name}\nshare", justify="right")
    for backend in backends:
        name = backend.spec.name
        table.add_row(
            name,
            backend.spec.role,
            "yes" if name in members else "no",
            *(f"{stats.share(name):6.1%}" for stats in balancers),
        )
    table.add_section()
    rows: list[tuple[str, Any]] = [
        ("p50 ms", lambda s: _ms(s.percentile(0.50))),
        ("p99 ms", lambda s: _ms(s.percentile(0.99))),
        ("success", lambda s: f"{s.success:.2%}" if s.total else "-"),
        ("failfast errors", lambda s: str(s.failfast)),
        ("requests", lambda s: str(s.total)),
    ]
    for label, figure in rows:
        table.add_row(label, "", "", *(figure(stats) for stats in balancers))
    return table


def summary(balancers: Sequence[BalancerStats], backends: Sequence[Backend]) -> dict[str, Any]:
    """The run's figures, as the ``--json`` output and the closing table report them."""

    def rounded(seconds: float) -> float | None:
        return None if math.isnan(seconds) else round(seconds * 1e3, 3)

    return {
        stats.name: {
            "requests": stats.total,
            "p50_ms": rounded(stats.percentile(0.50)),
            "p99_ms": rounded(stats.percentile(0.99)),
            "p999_ms": rounded(stats.percentile(0.999)),
            "success": round(stats.success, 5) if stats.total else None,
            "failfast": stats.failfast,
            "share": {b.spec.name: round(stats.share(b.spec.name), 4) for b in backends},
        }
        for stats in balancers
    }
