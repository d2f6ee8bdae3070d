"""Resilience: retries within a budget and hedged requests, simulated in virtual time.

A deterministic simulation on Trio's `MockClock` (autojump): open-loop Poisson arrivals
through `open_pool_queue` over 10 endpoints (20 in the tail scenario) that accept any
number of calls at once. Each call's latency and fate are drawn from a generator seeded
by the run's seed, the request and the copy, so they do not depend on the order in
which Trio runs tasks. Each figure is set against its baseline in the same run:

- ``storm``, the retry storm: every endpoint fails every call in 1 ms. Calls sent per
  request with the default `RetryBudget` (``percent=0.2``, ``min_per_second=10``)
  against ``attempts=3`` without a budget worth the name (``percent=10``). Goal: the
  budget holds amplification to ``1 + percent`` plus what the reserve adds.
- ``partial``: 3 of 10 endpoints fail every call in 1 ms, round robin; the others
  answer in about 5 ms. The success rate without retries and with ``attempts=3``,
  under the default budget and under ``percent=0.5``, each with retries going to
  endpoints not yet tried and with a pool that cannot say where a request went
  (retries go wherever round robin sends them).
- ``tail``, after Dean and Barroso's "The Tail at Scale": 1 % of calls stall for 1 s,
  the others take about 10 ms; P2C over 20 endpoints. p99.9 with and without the
  default `Hedging` (the queue's recent 95th percentile as the delay), and the extra
  calls the hedges cost; beside it, the 98th percentile. Goal: p99.9 at most 0.1x the
  unhedged one, for at most 5 % more calls.

    ./dev python benchmarks/bench_resilience.py [--seconds S] [--seed N] [--json PATH]
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
from prometheus_client import CollectorRegistry

import trio_pool

# Without a budget worth the name: ten retries earned per request, never refused.
NO_BUDGET = trio_pool.RetryBudget(percent=10.0)


@attrs.frozen
class Workload:
    """One simulated service: its endpoints, how they answer, and the arrival rate."""

    endpoints: int
    rate: float  # requests per second
    failing: int = 0  # endpoints 0 .. failing-1 fail every call
    latency: float = 0.005  # median of a healthy call, seconds
    stall_probability: float = 0.0
    stall: float = 1.0


@attrs.define
class Endpoint:
    """Accepts any number of calls; each call's latency and fate come from its own draw."""

    index: int
    workload: Workload
    seed: int
    copies: dict[int, int]  # shared by the endpoints: copies of each request so far
    calls_at: list[float]  # shared: when each call was sent

    async def ready(self) -> None:
        pass

    def ready_nowait(self) -> None:
        pass

    async def call(self, request: int) -> int:
        self.calls_at.append(trio.current_time())
        copy = self.copies.get(request, 0)
        self.copies[request] = copy + 1
        workload = self.workload
        if self.index < workload.failing:
            await trio.sleep(0.001)
            raise ConnectionError(f"endpoint {self.index} failed request {request}")
        draw = random.Random(f"{self.seed}/{request}/{copy}")
        latency = workload.latency * math.exp(draw.gauss(0.0, 0.25))
        if draw.random() < workload.stall_probability:
            latency = workload.stall
        await trio.sleep(latency)
        return request


@attrs.define
class Only:
    """A pool with the protocol's methods and ``ready_nowait`` only: it cannot tell where a
    request went, so the queue cannot ask it to avoid an endpoint."""

    _pool: Any

    def reset_pool(self, endpoints: Any) -> None:
        self._pool.reset_pool(endpoints)

    def add_endpoint(self, address: Any, target: Any) -> None:
        self._pool.add_endpoint(address, target)

    def remove_endpoint(self, address: Any) -> None:
        self._pool.remove_endpoint(address)

    async def drive(self) -> Any:
        return await self._pool.drive()

    async def ready(self) -> None:
        await self._pool.ready()

    def ready_nowait(self) -> None:
        self._pool.ready_nowait()

    def call(self, request: Any) -> Any:
        return self._pool.call(request)

    async def aclose(self) -> None:
        await self._pool.aclose()


@attrs.frozen
class Run:
    requests: int
    calls: int
    failures: int
    latencies: list[float]  # of the successful requests, sorted, seconds
    per_second: list[tuple[int, int, int]]  # requests, calls, failures by second
    metrics: dict[str, float]

    @property
    def success(self) -> float:
        return 1.0 - self.failures / self.requests

    @property
    def calls_per_request(self) -> float:
        return self.calls / self.requests

    def percentile(self, q: float) -> float:
        values = self.latencies
        return values[min(len(values) - 1, int(q * len(values)))] if values else math.nan


async def simulate(
    workload: Workload,
    make_pool: Callable[[Any, random.Random], Any],
    seconds: float,
    seed: int,
    retry: trio_pool.RetryPolicy | None,
    hedging: trio_pool.Hedging | None,
) -> Run:
    copies: dict[int, int] = {}
    calls_at: list[float] = []

    def new_endpoint(address: int, target: None) -> Endpoint:
        return Endpoint(address, workload, seed, copies, calls_at)

    pool = make_pool(new_endpoint, random.Random(seed))
    registry = CollectorRegistry()
    metrics = trio_pool.QueueMetricFamilies.register(registry).labels()
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    send.send_nowait(trio_pool.Reset([(i, None) for i in range(workload.endpoints)]))
    latencies: list[float] = []
    failed_at: list[float] = []
    arrived_at: list[float] = []
    start = trio.current_time()

    async def one(queue: trio_pool.PoolQueue[int, int], request: int) -> None:
        arrived = trio.current_time()
        arrived_at.append(arrived)
        try:
            await queue.call(request)
        except (ConnectionError, trio_pool.PoolError):
            failed_at.append(arrived)
        else:
            latencies.append(trio.current_time() - arrived)

    arrivals = random.Random(f"{seed}/arrivals")
    requests = int(workload.rate * seconds)
    async with trio_pool.open_pool_queue(
        pool, discovery, capacity=10_000, metrics=metrics, retry=retry, hedging=hedging
    ) as queue:
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for request in range(requests):
                nursery.start_soon(one, queue, request)
                await trio.sleep(arrivals.expovariate(workload.rate))

    def by_second(times: list[float]) -> list[int]:
        counts = [0] * (math.ceil(seconds) + 1)
        for at in times:
            counts[min(len(counts) - 1, int(at - start))] += 1
        return counts

    names = ("retries", "hedges", "retries_refused", "hedges_refused")
    return Run(
        requests=requests,
        calls=len(calls_at),
        failures=len(failed_at),
        latencies=sorted(latencies),
        per_second=list(
            zip(by_second(arrived_at), by_second(calls_at), by_second(failed_at), strict=True)
        ),
        metrics={
            name: registry.get_sample_value(f"trio_pool_queue_{name}_total") or 0.0
            for name in names
        },
    )


def run(
    workload: Workload,
    make_pool: Callable[[Any, random.Random], Any],
    seconds: float,
    seed: int,
    *,
    retry: trio_pool.RetryPolicy | None = None,
    hedging: trio_pool.Hedging | None = None,
) -> Run:
    return trio.run(
        simulate,
        workload,
        make_pool,
        seconds,
        seed,
        retry,
        hedging,
        clock=trio.testing.MockClock(autojump_threshold=0),
    )


def round_robin(new: Any, rng: random.Random) -> Any:
    return trio_pool.RoundRobinPool(new, rng=rng)


def p2c(new: Any, rng: random.Random) -> Any:
    return trio_pool.P2CPool(new, rng=rng)


def policy(seed: int, budget: trio_pool.RetryBudget | None = None) -> trio_pool.RetryPolicy:
    return trio_pool.RetryPolicy(attempts=3, budget=budget, rng=random.Random(seed))


def storm(seconds: float, seed: int) -> tuple[dict[str, float], dict[str, Any]]:
    workload = Workload(endpoints=10, rate=200.0, failing=10)
    budget = trio_pool.RetryBudget()
    budgeted = run(workload, round_robin, seconds, seed, retry=policy(seed, budget))
    unbudgeted = run(workload, round_robin, seconds, seed, retry=policy(seed, NO_BUDGET))
    # Every request may retry percent of a time; the reserve adds min_per_second retries
    # for each second of the run, and a ttl's worth at the start.
    bound = 1 + budget.percent + budget.min_per_second * (seconds + budget.ttl) / budgeted.requests
    print(f"\nstorm: every endpoint fails, {workload.rate:g} requests/s for {seconds:g} s")
    print(f"  calls per request, default budget   {budgeted.calls_per_request:.3f}")
    print(f"  calls per request, attempts=3 alone  {unbudgeted.calls_per_request:.3f}")
    print(f"  the budget's bound (1 + percent + reserve) {bound:.3f}")
    figures = {
        "storm_calls_per_request_budget": budgeted.calls_per_request,
        "storm_calls_per_request_no_budget": unbudgeted.calls_per_request,
        "storm_budget_bound": bound,
        "storm_vs_no_budget": budgeted.calls_per_request / unbudgeted.calls_per_request,
        "storm_retries_refused": budgeted.metrics["retries_refused"],
    }
    series = {"budget": budgeted.per_second, "no_budget": unbudgeted.per_second}
    return figures, series


def partial(seconds: float, seed: int) -> tuple[dict[str, float], dict[str, Any]]:
    workload = Workload(endpoints=10, rate=200.0, failing=3)
    blind_pool = lambda new, rng: Only(round_robin(new, rng))  # noqa: E731
    ample = trio_pool.RetryBudget(percent=0.5)
    runs = {
        "without_retries": run(workload, round_robin, seconds, seed),
        "with_retries": run(workload, round_robin, seconds, seed, retry=policy(seed)),
        "with_retries_blind": run(workload, blind_pool, seconds, seed, retry=policy(seed)),
        "ample_budget": run(workload, round_robin, seconds, seed, retry=policy(seed, ample)),
        "ample_budget_blind": run(workload, blind_pool, seconds, seed, retry=policy(seed, ample)),
    }
    labels = {
        "without_retries": "without retries",
        "with_retries": "retries, default budget, untried first",
        "with_retries_blind": "retries, default budget, pool can't tell",
        "ample_budget": "retries, percent=0.5, untried first",
        "ample_budget_blind": "retries, percent=0.5, pool can't tell",
    }
    print(f"\npartial: 3 of 10 endpoints fail, round robin, {workload.rate:g} requests/s")
    print(f"  {'':<42}{'success':>9}{'calls/request':>15}")
    for name, result in runs.items():
        print(f"  {labels[name]:<42}{result.success:>9.4f}{result.calls_per_request:>15.3f}")
    figures: dict[str, float] = {}
    for name, result in runs.items():
        figures[f"partial_success_{name}"] = result.success
        figures[f"partial_calls_per_request_{name}"] = result.calls_per_request
    figures["partial_retries_refused_with_retries"] = runs["with_retries"].metrics[
        "retries_refused"
    ]
    return figures, {name: result.per_second for name, result in runs.items()}


def tail(seconds: float, seed: int) -> tuple[dict[str, float], dict[str, Any]]:
    workload = Workload(endpoints=20, rate=500.0, latency=0.010, stall_probability=0.01)
    runs = {
        "unhedged": run(workload, p2c, seconds, seed),
        "hedged": run(workload, p2c, seconds, seed, hedging=trio_pool.Hedging()),
        "hedged_p98": run(workload, p2c, seconds, seed, hedging=trio_pool.Hedging(percentile=0.98)),
    }
    labels = {
        "unhedged": "no hedging",
        "hedged": "Hedging() (95th percentile)",
        "hedged_p98": "Hedging(percentile=0.98)",
    }
    unhedged = runs["unhedged"]
    print(f"\ntail: 1 % of calls stall 1 s, P2C over 20 endpoints, {workload.rate:g} requests/s")
    print(f"  {'':<30}{'p50 ms':>8}{'p99 ms':>9}{'p99.9 ms':>10}{'p99.9 ratio':>13}{'extra':>8}")
    figures: dict[str, float] = {}
    for name, result in runs.items():
        ratio = result.percentile(0.999) / unhedged.percentile(0.999)
        extra = result.calls_per_request - 1
        print(
            f"  {labels[name]:<30}{result.percentile(0.5) * 1e3:>8.1f}"
            f"{result.percentile(0.99) * 1e3:>9.1f}{result.percentile(0.999) * 1e3:>10.1f}"
            f"{ratio:>13.3f}{extra:>8.2%}"
        )
        figures[f"tail_p50_ms_{name}"] = result.percentile(0.5) * 1e3
        figures[f"tail_p99_ms_{name}"] = result.percentile(0.99) * 1e3
        figures[f"tail_p999_ms_{name}"] = result.percentile(0.999) * 1e3
        if name != "unhedged":
            figures[f"tail_p999_vs_unhedged_{name}"] = ratio
            figures[f"tail_extra_calls_{name}"] = extra
            figures[f"tail_hedges_refused_{name}"] = result.metrics["hedges_refused"]
    series = {
        f"{name}_ms": [round(x * 1e3, 3) for x in result.latencies] for name, result in runs.items()
    }
    return figures, series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="virtual seconds per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the series here, for the plots")
    args = parser.parse_args()

    figures: dict[str, float] = {}
    series: dict[str, Any] = {}
    for name, scenario in (("storm", storm), ("partial", partial), ("tail", tail)):
        scenario_figures, series[name] = scenario(args.seconds, args.seed)
        figures.update(scenario_figures)
    goals = {
        "storm_within_bound": figures["storm_calls_per_request_budget"]
        <= figures["storm_budget_bound"],
        "tail_p999_at_most_a_tenth": figures["tail_p999_vs_unhedged_hedged"] <= 0.1,
        "tail_extra_calls_at_most_5_percent": figures["tail_extra_calls_hedged"] <= 0.05,
    }
    print("\ngoals:")
    for name, met in goals.items():
        print(f"  {name:<38}{'met' if met else 'MISSED'}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"seconds": args.seconds, "seed": args.seed, "series": series}, out)
    report(
        "resilience",
        {
            "seconds": args.seconds,
            "seed": args.seed,
            **{k: round(v, 4) for k, v in figures.items()},
            **goals,
        },
    )


if __name__ == "__main__":
    main()
