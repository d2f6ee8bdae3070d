"""Health: outlier ejection and slow start, each against the same pool without it.

A deterministic simulation on Trio's `MockClock` (autojump), as in ``bench_balance``:
10 endpoints, each serving up to 4 requests at once with exponentially distributed
latency of mean 10 ms, behind `open_pool_queue`, under open-loop Poisson arrivals at
30 % of their capacity, for 60 virtual seconds. Scenarios, each run with round robin and
with P2C over Peak-EWMA, with and without the feature:

- ``one_failing``: endpoint 0 fails every call (in 1 ms); outlier detection
  ``OutlierDetection()`` (5 failures in a row);
- ``gray``: endpoint 0 fails 20 % of its calls at normal latency; outlier detection by
  failure percentage (``failure_percentage=0.1``, 50 calls a 10 s interval);
- ``six_failing``: endpoints 0 to 5 fail every call: the cap (a tenth of the pool)
  holds, and no request fails fast;
- ``slow_start``: a warm pool of 9, then endpoint 9 joins at 5 s, 10x slower for its
  first 10 s (a cold cache); its share and the p99 of all requests over its first 30 s,
  with ``SlowStart()`` and without.

Figures: success, endpoint 0's share of the calls (9's for slow start), the most
endpoints ever ejected at once, failfast errors, p99. The last line is the JSON of them.

    ./dev python benchmarks/bench_health.py [--seconds S] [--seed N] [--plots DIR]
"""

from __future__ import annotations

import argparse
import logging
import math
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing
from _common import report

import trio_pool

ENDPOINTS = 10
SLOTS = 4
MEAN_LATENCY = 0.010
UTILISATION = 0.3


@attrs.frozen
class Scenario:
    name: str
    failing: tuple[int, ...] = ()  # endpoints failing every call
    gray: tuple[int, ...] = ()  # endpoints failing 20 % of calls
    late: int | None = None  # the endpoint that joins at JOIN_AT, slow at first
    outlier: trio_pool.OutlierDetection | None = None
    slow_start: trio_pool.SlowStart | None = None


JOIN_AT = 5.0
COLD_FOR = 10.0
SCENARIOS = [
    Scenario("one_failing", failing=(0,), outlier=trio_pool.OutlierDetection()),
    Scenario(
        "gray",
        gray=(0,),
        outlier=trio_pool.OutlierDetection(
            consecutive_failures=None, failure_percentage=0.1, min_requests=50
        ),
    ),
    Scenario("six_failing", failing=(0, 1, 2, 3, 4, 5), outlier=trio_pool.OutlierDetection()),
    Scenario("slow_start", late=9, slow_start=trio_pool.SlowStart()),
]
POOLS: dict[str, Callable[..., Any]] = {
    "round_robin": trio_pool.RoundRobinPool,
    "p2c": lambda new, **options: trio_pool.P2CPool(new, load=trio_pool.PeakEwma(), **options),
}


class Trouble(Exception):
    pass


class SimulatedEndpoint:
    """Serves SLOTS requests at once; fails, or answers slowly, as its scenario says."""

    def __init__(self, index: int, scenario: Scenario, rng: random.Random) -> None:
        self.index = index
        self.scenario = scenario
        self.rng = rng
        self.slots = trio.Semaphore(SLOTS)
        self.joined = trio.current_time()

    def ready_nowait(self) -> None:
        pass  # a request waits for a slot inside the endpoint

    async def ready(self) -> None:
        await trio.lowlevel.checkpoint()

    async def call(self, request: int) -> int:
        async with self.slots:
            if self.index in self.scenario.failing:
                await trio.sleep(0.001)
                raise Trouble(self.index)
            mean = MEAN_LATENCY
            if self.index == self.scenario.late and trio.current_time() - self.joined < COLD_FOR:
                mean *= 10
            await trio.sleep(self.rng.expovariate(1.0 / mean))
            if self.index in self.scenario.gray and self.rng.random() < 0.2:
                raise Trouble(self.index)
        return self.index


@attrs.frozen
class Outcome:
    success: float
    share: float
    most_ejected: int
    failfast: int
    p99_ms: float
    shares_over_time: list[float]  # the watched endpoint's share, second by second


async def simulate(
    scenario: Scenario, pool_name: str, with_feature: bool, seconds: float, seed: int
) -> Outcome:
    rng = random.Random(seed)
    options: dict[str, Any] = {"rng": random.Random(seed + 1)}
    if with_feature:
        options["outlier"] = scenario.outlier
        options["slow_start"] = scenario.slow_start
    pool = POOLS[pool_name](lambda a, t: SimulatedEndpoint(a, scenario, rng), **options)
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    first = [i for i in range(ENDPOINTS) if i != scenario.late]
    send.send_nowait(trio_pool.Reset([(i, None) for i in first]))
    watched = scenario.late if scenario.late is not None else 0
    rate = UTILISATION * ENDPOINTS * SLOTS / MEAN_LATENCY
    start = trio.current_time()
    picks: Counter[int] = Counter()
    by_second: list[Counter[int]] = [Counter() for _ in range(int(seconds) + 1)]
    latencies: list[float] = []
    failed = failfast = most_ejected = 0

    async def one(queue: trio_pool.PoolQueue[int, int]) -> None:
        nonlocal failed, failfast
        arrived = trio.current_time()
        second = by_second[int(arrived - start)]
        try:
            index = await queue.call(0)
        except Trouble as trouble:
            picks[trouble.args[0]] += 1
            second[trouble.args[0]] += 1
            failed += 1
            return
        except trio_pool.FailFastError:
            failfast += 1
            failed += 1
            return
        picks[index] += 1
        second[index] += 1
        if scenario.late is None or JOIN_AT <= arrived - start < JOIN_AT + 30:
            latencies.append(trio.current_time() - arrived)

    arrivals = random.Random(seed + 2)
    async with trio_pool.open_pool_queue(pool, discovery, capacity=100_000) as queue:
        await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as nursery:
            joined = scenario.late is None
            while trio.current_time() - start < seconds:
                if not joined and trio.current_time() - start >= JOIN_AT:
                    send.send_nowait(trio_pool.Add([(scenario.late, None)]))
                    joined = True
                nursery.start_soon(one, queue)
                most_ejected = max(most_ejected, pool.statistics().ejected)
                await trio.sleep(arrivals.expovariate(rate))
    total = sum(picks.values())
    latencies.sort()
    window = by_second[int(JOIN_AT) : int(JOIN_AT) + 30] if scenario.late is not None else by_second
    watched_calls = sum(c[watched] for c in window)
    window_calls = sum(sum(c.values()) for c in window)
    return Outcome(
        success=round(1 - failed / (total + failfast), 5),
        share=round(watched_calls / window_calls if window_calls else 0.0, 4),
        most_ejected=most_ejected,
        failfast=failfast,
        p99_ms=round(latencies[int(0.99 * len(latencies))] * 1e3, 2) if latencies else math.nan,
        shares_over_time=[
            round(c[watched] / sum(c.values()), 4) if sum(c.values()) else 0.0 for c in by_second
        ],
    )


def run(scenario: Scenario, pool: str, with_feature: bool, seconds: float, seed: int) -> Outcome:
    outcome: Outcome = trio.run(
        simulate,
        scenario,
        pool,
        with_feature,
        seconds,
        seed,
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    return outcome


def plot(results: dict[str, dict[str, Outcome]], directory: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only with --plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in SCENARIOS if s.name != "slow_start"]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for axis, measure, label in (
        (axes[0], "success", "success"),
        (axes[1], "share", "the failing endpoint's share"),
    ):
        width = 0.2
        for offset, (pool, feature) in enumerate(
            [(p, f) for p in POOLS for f in ("without", "with")]
        ):
            values = [getattr(results[name][f"{pool}_{feature}"], measure) for name in names]
            xs = [i + (offset - 1.5) * width for i in range(len(names))]
            axis.bar(xs, values, width, label=f"{pool}, {feature} outlier detection")
        axis.set_xticks(range(len(names)), names)
        axis.set_title(label)
    axes[0].set_ylim(0.4, 1.01)
    axes[1].legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    figure.savefig(directory / "health_outliers.png", dpi=110)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(7, 3.4))
    for key, outcome in results["slow_start"].items():
        axis.plot(outcome.shares_over_time, label=key.replace("_", " "))
    axis.axvline(JOIN_AT, color="grey", linestyle=":")
    axis.axvspan(JOIN_AT, JOIN_AT + COLD_FOR, color="grey", alpha=0.1)
    axis.set_xlabel("virtual seconds (the new endpoint joins at 5 s, cold for 10 s)")
    axis.set_ylabel("the new endpoint's share")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(directory / "health_slow_start.png", dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--plots", type=Path, help="write the plots into this folder")
    args = parser.parse_args()
    # An ejection logs a warning each: the figures say it all.
    logging.getLogger("trio_pool").setLevel(logging.ERROR)

    results: dict[str, dict[str, Outcome]] = {}
    figures: dict[str, Any] = {"seconds": args.seconds}
    for scenario in SCENARIOS:
        results[scenario.name] = {}
        for pool in POOLS:
            for feature in ("without", "with"):
                outcome = run(scenario, pool, feature == "with", args.seconds, args.seed)
                results[scenario.name][f"{pool}_{feature}"] = outcome
                key = f"{scenario.name}_{pool}_{feature}"
                figures[f"{key}_success"] = outcome.success
                figures[f"{key}_share"] = outcome.share
                figures[f"{key}_most_ejected"] = outcome.most_ejected
                figures[f"{key}_failfast"] = outcome.failfast
                figures[f"{key}_p99_ms"] = outcome.p99_ms
                print(
                    f"{scenario.name:>11} {pool:>11} {feature:>7}: success "
                    f"{outcome.success:.4f}, share {outcome.share:.3f}, most ejected "
                    f"{outcome.most_ejected}, failfast {outcome.failfast}, p99 "
                    f"{outcome.p99_ms} ms",
                    flush=True,
                )
    if args.plots:
        plot(results, args.plots)
    report("health", figures)


if __name__ == "__main__":
    main()
