"""What every benchmark shares: repeated interleaved timing and the closing JSON line."""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import trio


def best_of(rounds: int, *contenders: Callable[[], float]) -> list[float]:
    """Run each contender ``rounds`` times, interleaved, and keep each one's best figure.

    Interleaving spreads the noise of a shared machine over all contenders alike; the best
    round is the one least disturbed by it.
    """
    figures: list[list[float]] = [[] for _ in contenders]
    for _ in range(rounds):
        for contender, results in zip(contenders, figures, strict=True):
            results.append(contender())
    return [max(results) for results in figures]


def timed(function: Callable[[], Any]) -> float:
    """Seconds that ``function()`` took, by the monotonic performance counter."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the benchmark's figures as its last line: one JSON object."""
    line = {"benchmark": name, "python": platform.python_version(), **figures}
    sys.stdout.flush()
    print(json.dumps(line, sort_keys=True))


def seed_trio_scheduler(seed: int) -> None:
    """Make the order in which Trio runs the tasks of one tick repeatable.

    Trio shuffles each batch of runnable tasks with a `random.Random` of its own, so two
    runs of one simulation can differ where tasks wake in the same tick. Seeding it (the
    hook Trio's Hypothesis plugin uses) makes a simulation in virtual time repeat exactly.
    """
    # Trio has no public way to seed its scheduler.
    trio._core._run._r.seed(seed)
