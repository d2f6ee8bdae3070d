"""Balance: latency and success of each pool policy, simulated in virtual time.

A deterministic simulation on Trio's `MockClock` (autojump): 10 endpoints, each serving
up to 4 requests at once (more wait for a slot inside the endpoint) with exponentially
distributed latency of mean 10 ms, behind `open_pool_queue`; open-loop Poisson arrivals
at a fraction of the endpoints' total capacity. Scenarios:

- ``healthy``: all endpoints alike, 20 % utilisation;
- ``one_slow``: one endpoint 10x slower;
- ``one_failing``: one endpoint failing every request in 1 ms;
- ``turns_slow``: one endpoint turning 10x slower halfway through the run;
- ``busy``: all healthy at 75 % utilisation.

Policies: P2C over Peak-EWMA, P2C over pending requests, the least-loaded pool (over
Peak-EWMA), round robin, random. Figures: p50, p99, p999 of successful requests (ms)
and the success rate. The targets compare P2C+Peak-EWMA with its own healthy run and
with round robin in the same run, and the least-loaded pool with P2C+Peak-EWMA in each
scenario (a ratio of p99 below 1 and of success at least 1: at least as good).

    ./dev python benchmarks/bench_balance.py [--requests N] [--seed S] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Callable
from typing import Any

import attrs
import trio
import trio.testing
from _common import report

import trio_pool

ENDPOINTS = 10
SLOTS = 4
MEAN_LATENCY = 0.010
CAPACITY = ENDPOINTS * SLOTS / MEAN_LATENCY  # requests per second


@attrs.frozen
class Scenario:
    name: str
    utilisation: float = 0.2
    slow_factor: float = 1.0  # endpoint 0's latency multiplier
    slow_from: float = 0.0  # ... from this fraction of the run on
    failing: bool = False  # endpoint 0 fails every request in 1 ms


SCENARIOS = [
    Scenario("healthy"),
    Scenario("one_slow", slow_factor=10.0),
    Scenario("one_failing", failing=True),
    Scenario("turns_slow", slow_factor=10.0, slow_from=0.5),
    Scenario("busy", utilisation=0.75),
]

POLICIES: dict[str, Callable[[Any, random.Random], Any]] = {
    "p2c_peak_ewma": lambda new, rng: trio_pool.P2CPool(new, load=trio_pool.PeakEwma(), rng=rng),
    "p2c_pending": lambda new, rng: trio_pool.P2CPool(
        new, load=trio_pool.PendingRequests(), rng=rng
    ),
    "least_loaded": lambda new, rng: trio_pool.LeastLoadedPool(new, rng=rng),
    "round_robin": lambda new, rng: trio_pool.RoundRobinPool(new, rng=rng),
    "random": lambda new, rng: trio_pool.RandomPool(new, rng=rng),
}


class SimulatedEndpoint:
    """Serves SLOTS requests at once; the rest wait for a slot, in arrival order."""

    def __init__(self, index: int, scenario: Scenario, slow_at: float, rng: random.Random):
        self.index = index
        self._slots = trio.Semaphore(SLOTS)
        self._rng = rng
        self._slow = index == 0 and scenario.slow_factor != 1.0
        self._slow_factor = scenario.slow_factor
        self._slow_at = slow_at
        self._failing = index == 0 and scenario.failing

    def ready_nowait(self) -> None:
        pass  # always accepts: a request waits for a slot inside the endpoint

    async def ready(self) -> None:
        await trio.lowlevel.checkpoint()

    async def call(self, request: int) -> int:
        async with self._slots:
            if self._failing:
                await trio.sleep(0.001)
                raise ConnectionError(f"endpoint {self.index} failed")
            mean = MEAN_LATENCY
            if self._slow and trio.current_time() >= self._slow_at:
                mean *= self._slow_factor
            await trio.sleep(self._rng.expovariate(1.0 / mean))
        return request


async def simulate(
    scenario: Scenario, policy: str, requests: int, seed: int
) -> tuple[list[float], int]:
    """Latencies of the successful requests, and the number of failures."""
    rate = scenario.utilisation * CAPACITY
    duration = requests / rate
    start = trio.current_time()
    latency_rng = random.Random(seed)
    endpoints: dict[int, SimulatedEndpoint] = {}

    def new_endpoint(address: int, target: None) -> SimulatedEndpoint:
        endpoint = SimulatedEndpoint(
            address, scenario, start + scenario.slow_from * duration, latency_rng
        )
        endpoints[address] = endpoint
        return endpoint

    pool = POLICIES[policy](new_endpoint, random.Random(seed + 1))
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    send.send_nowait(trio_pool.Reset([(i, None) for i in range(ENDPOINTS)]))
    latencies: list[float] = []
    failures = 0

    async def one(queue: trio_pool.PoolQueue[int, int], i: int) -> None:
        nonlocal failures
        arrived = trio.current_time()
        try:
            await queue.call(i)
        except (ConnectionError, trio_pool.PoolError):
            failures += 1
        else:
            latencies.append(trio.current_time() - arrived)

    arrivals = random.Random(seed + 2)
    async with trio_pool.open_pool_queue(pool, discovery, capacity=10_000) as queue:
        await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as nursery:
            for i in range(requests):
                nursery.start_soon(one, queue, i)
                await trio.sleep(arrivals.expovariate(rate))
    return latencies, failures


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run(scenario: Scenario, policy: str, requests: int, seed: int) -> dict[str, Any]:
    latencies, failures = trio.run(
        simulate,
        scenario,
        policy,
        requests,
        seed,
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    latencies.sort()
    return {
        "p50_ms": round(percentile(latencies, 0.5) * 1e3, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 3),
        "p999_ms": round(percentile(latencies, 0.999) * 1e3, 3),
        "success": round(len(latencies) / (len(latencies) + failures), 6),
        "failures": failures,
        "latencies_ms": [round(x * 1e3, 3) for x in latencies],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write every latency here, for the plots")
    args = parser.parse_args()

    results: dict[str, dict[str, dict[str, Any]]] = {}
    for scenario in SCENARIOS:
        results[scenario.name] = {}
        print(f"\n{scenario.name} ({scenario.utilisation:.0%} utilisation)")
        print(f"  {'policy':<15}{'p50 ms':>9}{'p99 ms':>9}{'p999 ms':>9}{'success':>10}")
        for policy in POLICIES:
            figures = run(scenario, policy, args.requests, args.seed)
            results[scenario.name][policy] = figures
            print(
                f"  {policy:<15}{figures['p50_ms']:>9.2f}{figures['p99_ms']:>9.2f}"
                f"{figures['p999_ms']:>9.2f}{figures['success']:>10.2%}"
            )

    ewma = {name: by_policy["p2c_peak_ewma"] for name, by_policy in results.items()}
    rr = {name: by_policy["round_robin"] for name, by_policy in results.items()}
    healthy = ewma["healthy"]
    targets = {
        "one_slow_p99_vs_healthy": ewma["one_slow"]["p99_ms"] / healthy["p99_ms"],
        "one_slow_p999_vs_healthy": ewma["one_slow"]["p999_ms"] / healthy["p999_ms"],
        "one_slow_p99_vs_round_robin": ewma["one_slow"]["p99_ms"] / rr["one_slow"]["p99_ms"],
        "one_failing_success": ewma["one_failing"]["success"],
        "round_robin_one_failing_success": rr["one_failing"]["success"],
        "turns_slow_p99_vs_healthy": ewma["turns_slow"]["p99_ms"] / healthy["p99_ms"],
    }
    least = {name: by_policy["least_loaded"] for name, by_policy in results.items()}
    for name in results:
        targets[f"least_loaded_{name}_p99_vs_p2c"] = least[name]["p99_ms"] / ewma[name]["p99_ms"]
        targets[f"least_loaded_{name}_success_vs_p2c"] = (
            least[name]["success"] / ewma[name]["success"]
        )
    print("\nP2C+Peak-EWMA against its targets, and the least-loaded pool against P2C:")
    for name, value in targets.items():
        print(f"  {name:<44}{value:.4f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"requests": args.requests, "seed": args.seed, "results": results}, out)
    summary = {
        f"{scenario}.{policy}.{key}": value
        for scenario, by_policy in results.items()
        for policy, figures in by_policy.items()
        for key, value in figures.items()
        if key != "latencies_ms"
    }
    report("balance", {**{k: round(v, 4) for k, v in targets.items()}, **summary})


if __name__ == "__main__":
    main()
