"""Fleet: the least-loaded pool against P2C, on tower's demo and across a fleet.

A deterministic simulation on Trio's `MockClock` (autojump), in two parts.

**Tower's demo, replayed.** tower's p2c example (``tower-balance/examples/demo.rs``):
10 endpoints whose latency is uniform below 1 ms, 10 ms (four of them), 100 ms (four)
and 1 s (one), each taking 50 requests at once (not ready while 50 are in flight);
50,000 requests from 50 callers. Latency is measured inside the endpoint, as tower's
demo does, so it shows where requests went: P2C's two random
picks are both slow (the five endpoints of 100 ms and more) for 22 % of the picks,
which is where tower's published p99 of 96 ms comes from. Goal: the least-loaded pool's
p99 at most 0.2x tower's 96 ms.

**A fleet.** Many clients, each with its own pool and so its own view of the servers'
load, over one set of shared servers; each server has a few workers and a queue
(requests wait their turn, first come first served), and serves in exponentially
distributed time. Open-loop Poisson arrivals at each client add up to a share of the
servers' total capacity. Latency is what a client sees: queueing included. Herding
(many clients picking the same server at once because it looked best) would show as
one server's queue far above the others': a sampler records, every 5 ms, the longest
queue and the mean queue over the servers. Scenarios:

- ``homogeneous``: 20 clients, 10 alike servers, 80 % utilisation. Goal: p99 at most
  1.05x P2C's (no herding);
- ``three_slow``: the same with 3 of the 10 servers 5x slower (80 % of the capacity
  that is left). Goal: p99 at most 0.5x P2C's;
- ``many_clients``: 100 clients over 10 alike servers at 80 %: each client sees fewer
  of its own calls in flight, the harder case for herding. No goal; measured.

Every figure is against P2C+Peak-EWMA in the same run.

    ./dev python benchmarks/bench_fleet.py [--seconds S] [--seed N] [--plots DIR]
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing
from _common import report, seed_trio_scheduler

import trio_pool

PoolFactory = Callable[[Any, random.Random], Any]
POLICIES: dict[str, PoolFactory] = {
    "p2c_peak_ewma": lambda new, rng: trio_pool.P2CPool(new, rng=rng),
    "least_loaded": lambda new, rng: trio_pool.LeastLoadedPool(new, rng=rng),
    "round_robin": lambda new, rng: trio_pool.RoundRobinPool(new, rng=rng),
}
LABELS = {
    "p2c_peak_ewma": "P2C + Peak-EWMA",
    "least_loaded": "least loaded",
    "round_robin": "round robin",
}


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The smallest value with at least a fraction ``q`` of values at or below it (as
    HdrHistogram's ``value_at_quantile``, which tower's demo reports)."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def summary(latencies: list[float]) -> dict[str, float]:
    latencies = sorted(latencies)
    return {
        "p50_ms": round(quantile(latencies, 0.5) * 1e3, 3),
        "p99_ms": round(quantile(latencies, 0.99) * 1e3, 3),
        "p999_ms": round(quantile(latencies, 0.999) * 1e3, 3),
    }


# -- tower's demo -----------------------------------------------------------------------

TOWER_MAX_LATENCIES_MS = [1, 10, 10, 10, 10, 100, 100, 100, 100, 1000]
TOWER_CAPACITY = 50
TOWER_REQUESTS = 50_000
TOWER_CALLERS = 50
TOWER_PUBLISHED = {"p50_ms": 5.0, "p99_ms": 96.0, "p999_ms": 105.0, "wall_s": 15.0}


class DemoEndpoint:
    """tower's ``DelayService`` behind a concurrency limit: latency uniform below its
    maximum, at most ``TOWER_CAPACITY`` requests in flight.

    tower draws whole milliseconds, which on a real clock still take some microseconds;
    in virtual time a draw of 0 ms would take no time at all and make the fastest
    endpoint infinitely fast, so the latency here is uniform over the interval.
    """

    def __init__(self, max_ms: int, rng: random.Random, latencies: list[float]) -> None:
        self._max_ms = max_ms
        self._rng = rng
        self._latencies = latencies
        self._in_flight = 0
        self._freed = trio.Event()

    def ready_nowait(self) -> None:
        if self._in_flight >= TOWER_CAPACITY:
            raise trio.WouldBlock

    async def ready(self) -> None:
        await trio.lowlevel.checkpoint()
        while self._in_flight >= TOWER_CAPACITY:
            await self._freed.wait()

    async def call(self, request: int) -> int:
        self._in_flight += 1
        try:
            started = trio.current_time()
            await trio.sleep(self._rng.random() * self._max_ms / 1000)
            self._latencies.append(trio.current_time() - started)
        finally:
            self._in_flight -= 1
            self._freed.set()
            self._freed = trio.Event()
        return request

    async def aclose(self) -> None:
        pass


async def tower_demo(
    policy: str, seed: int, requests: int = TOWER_REQUESTS
) -> tuple[dict[str, float], list[float]]:
    """The demo's figures, and its latencies."""
    latency_rng = random.Random(seed)
    latencies: list[float] = []

    def new_endpoint(address: int, target: None) -> DemoEndpoint:
        return DemoEndpoint(TOWER_MAX_LATENCIES_MS[address], latency_rng, latencies)

    pool = POLICIES[policy](new_endpoint, random.Random(seed + 1))
    send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
    send.send_nowait(trio_pool.Reset([(i, None) for i in range(len(TOWER_MAX_LATENCIES_MS))]))
    remaining = requests

    async def caller(queue: trio_pool.PoolQueue[int, int]) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await queue.call(remaining)

    start = trio.current_time()
    async with trio_pool.open_pool_queue(pool, discovery) as queue:
        await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as nursery:
            for _ in range(TOWER_CALLERS):
                nursery.start_soon(caller, queue)
    figures = summary(latencies)
    figures["wall_s"] = round(trio.current_time() - start, 2)
    return figures, latencies


# -- the fleet --------------------------------------------------------------------------

WORKERS = 4
MEAN_SERVICE = 0.010
SAMPLE_EVERY = 0.005


@attrs.frozen
class Fleet:
    name: str
    clients: int = 20
    servers: int = 10
    slow: int = 0  # how many servers are slow
    slow_factor: float = 5.0
    utilisation: float = 0.8

    @property
    def capacity(self) -> float:
        """Requests per second all servers serve together."""
        fast = self.servers - self.slow
        return WORKERS / MEAN_SERVICE * (fast + self.slow / self.slow_factor)


FLEETS = [
    Fleet("homogeneous"),
    Fleet("three_slow", slow=3),
    Fleet("many_clients", clients=100),
]


class Server:
    """``WORKERS`` workers and a first-come, first-served queue."""

    def __init__(self, mean: float, rng: random.Random) -> None:
        self._workers = trio.Semaphore(WORKERS)
        self._mean = mean
        self._rng = rng
        self.queued = 0
        """Requests waiting for a worker."""

    async def serve(self) -> None:
        self.queued += 1
        try:
            await self._workers.acquire()
        finally:
            self.queued -= 1
        try:
            await trio.sleep(self._rng.expovariate(1.0 / self._mean))
        finally:
            self._workers.release()


class FleetEndpoint:
    """One client's connection to one server: always ready, as an HTTP/2 channel."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def ready_nowait(self) -> None:
        pass

    async def ready(self) -> None:
        await trio.lowlevel.checkpoint()

    async def call(self, request: int) -> int:
        await self._server.serve()
        return request

    async def aclose(self) -> None:
        pass


@attrs.frozen
class FleetRun:
    latencies: list[float]
    longest_queue: list[int]
    """The longest queue over the servers, at each sample."""
    mean_queue: list[float]


async def fleet(scenario: Fleet, policy: str, seconds: float, seed: int) -> FleetRun:
    service_rng = random.Random(seed)
    servers = [
        Server(MEAN_SERVICE * (scenario.slow_factor if i < scenario.slow else 1.0), service_rng)
        for i in range(scenario.servers)
    ]
    rate = scenario.utilisation * scenario.capacity / scenario.clients
    latencies: list[float] = []
    longest: list[int] = []
    means: list[float] = []
    done = trio.Event()

    async def sample() -> None:
        while not done.is_set():
            queues = [server.queued for server in servers]
            longest.append(max(queues))
            means.append(sum(queues) / len(queues))
            await trio.sleep(SAMPLE_EVERY)

    async def one(queue: trio_pool.PoolQueue[int, int], i: int) -> None:
        arrived = trio.current_time()
        await queue.call(i)
        latencies.append(trio.current_time() - arrived)

    async def client(number: int) -> None:
        def new_endpoint(address: int, target: None) -> FleetEndpoint:
            return FleetEndpoint(servers[address])

        pool = POLICIES[policy](new_endpoint, random.Random(seed * 1000 + number))
        send, discovery = trio.open_memory_channel[trio_pool.Update](math.inf)
        send.send_nowait(trio_pool.Reset([(i, None) for i in range(scenario.servers)]))
        arrivals = random.Random(seed * 1000 + 500 + number)
        until = trio.current_time() + seconds
        async with (
            trio_pool.open_pool_queue(pool, discovery, capacity=10_000) as queue,
            trio.open_nursery() as requests,
        ):
            i = 0
            while trio.current_time() < until:
                requests.start_soon(one, queue, i)
                i += 1
                await trio.sleep(arrivals.expovariate(rate))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample)
        async with trio.open_nursery() as clients:
            for number in range(scenario.clients):
                clients.start_soon(client, number)
        done.set()
    return FleetRun(latencies, longest, means)


def fleet_figures(run: FleetRun) -> dict[str, float]:
    figures = summary(run.latencies)
    longest = sorted(run.longest_queue)
    figures["requests"] = len(run.latencies)
    figures["longest_queue_mean"] = round(sum(longest) / len(longest), 3)
    figures["longest_queue_p99"] = quantile(longest, 0.99)
    figures["mean_queue"] = round(sum(run.mean_queue) / len(run.mean_queue), 3)
    return figures


def simulate(function: Callable[..., Any], *args: Any, seed: int) -> Any:
    """``trio.run(function, *args)`` in virtual time, repeatably for ``seed``."""
    seed_trio_scheduler(seed)
    return trio.run(function, *args, clock=trio.testing.MockClock(autojump_threshold=0))


# -- plots ------------------------------------------------------------------------------


def plot(
    demo: dict[str, list[float]],
    fleets: dict[str, dict[str, FleetRun]],
    directory: Path,
) -> None:
    import matplotlib  # noqa: PLC0415 - only with --plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    colours = {"p2c_peak_ewma": "#1b9e77", "least_loaded": "#66a61e", "round_robin": "#d95f02"}

    def tail(axis: Any, latencies: list[float], policy: str) -> None:
        values = sorted(x * 1e3 for x in latencies)
        n = len(values)
        # Fraction of requests slower than x: the tail on log axes.
        axis.step(
            values,
            [1 - (i + 1) / n for i in range(n)],
            where="post",
            color=colours[policy],
            label=LABELS[policy],
            linestyle="--" if policy == "round_robin" else "-",
        )

    panels: list[tuple[str, Mapping[str, list[float] | FleetRun]]] = [
        ("tower's demo", demo),
        *fleets.items(),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for axis, (title, by_policy) in zip(axes, panels, strict=True):
        for policy, run in by_policy.items():
            tail(axis, run if isinstance(run, list) else run.latencies, policy)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_ylim(1e-5, 1)
        # Where the curves part: below, nearly every request is slower in every policy.
        axis.set_xlim(left=0.1 if by_policy is demo else 1.0)
        axis.set_title(title.replace("_", " "))
        axis.set_xlabel("latency (ms)")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("fraction of requests slower")
    axes[0].legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(directory / "fleet_latency.png", dpi=110)
    plt.close(figure)

    # Herding: the longest queue over the servers, over a second of the homogeneous
    # fleet, for each policy; the mean queue beside it.
    figure, axis = plt.subplots(figsize=(8, 3.4))
    samples = int(1.0 / SAMPLE_EVERY)
    start = len(next(iter(fleets["homogeneous"].values())).longest_queue) // 2
    for policy, run in fleets["homogeneous"].items():
        if policy == "round_robin":
            continue
        window = run.longest_queue[start : start + samples]
        axis.plot(
            [i * SAMPLE_EVERY * 1e3 for i in range(len(window))],
            window,
            color=colours[policy],
            label=f"{LABELS[policy]}: longest queue",
        )
        means = run.mean_queue[start : start + samples]
        axis.plot(
            [i * SAMPLE_EVERY * 1e3 for i in range(len(means))],
            means,
            color=colours[policy],
            alpha=0.5,
            linestyle=":",
            label=f"{LABELS[policy]}: mean queue",
        )
    axis.set_xlabel("time (ms), one second of the homogeneous fleet")
    axis.set_ylabel("requests waiting")
    axis.legend(loc="upper right", fontsize="small")
    axis.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(directory / "fleet_herding.png", dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="of each fleet run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plots", type=Path, help="write the plots into this folder")
    args = parser.parse_args()

    figures: dict[str, Any] = {}
    demo_latencies: dict[str, list[float]] = {}
    print("tower's demo (latency inside the endpoint, ms; tower published 5 / 96 / 105, 15 s)")
    print(f"  {'policy':<16}{'p50':>8}{'p99':>8}{'p999':>8}{'wall s':>8}")
    for policy in POLICIES:
        result, demo_latencies[policy] = simulate(tower_demo, policy, args.seed, seed=args.seed)
        figures.update({f"tower.{policy}.{key}": value for key, value in result.items()})
        print(
            f"  {policy:<16}{result['p50_ms']:>8.1f}{result['p99_ms']:>8.1f}"
            f"{result['p999_ms']:>8.1f}{result['wall_s']:>8.1f}"
        )
    least, p2c = "tower.least_loaded", "tower.p2c_peak_ewma"
    figures["tower_least_loaded_p99_vs_published"] = round(
        figures[f"{least}.p99_ms"] / TOWER_PUBLISHED["p99_ms"], 4
    )
    figures["tower_least_loaded_p99_vs_p2c"] = round(
        figures[f"{least}.p99_ms"] / figures[f"{p2c}.p99_ms"], 4
    )
    figures["tower_p2c_p99_vs_published"] = round(
        figures[f"{p2c}.p99_ms"] / TOWER_PUBLISHED["p99_ms"], 4
    )

    runs: dict[str, dict[str, FleetRun]] = {}
    for scenario in FLEETS:
        print(
            f"\n{scenario.name}: {scenario.clients} clients, {scenario.servers} servers "
            f"({scenario.slow} {scenario.slow_factor:g}x slower), "
            f"{scenario.utilisation:.0%} utilisation, {args.seconds:g} s"
        )
        print(
            f"  {'policy':<16}{'p50 ms':>8}{'p99 ms':>9}{'p999 ms':>9}"
            f"{'longest queue':>15}{'(p99)':>7}{'mean queue':>12}"
        )
        runs[scenario.name] = {}
        for policy in POLICIES:
            run = simulate(fleet, scenario, policy, args.seconds, args.seed, seed=args.seed)
            runs[scenario.name][policy] = run
            result = fleet_figures(run)
            figures.update(
                {f"{scenario.name}.{policy}.{key}": value for key, value in result.items()}
            )
            print(
                f"  {policy:<16}{result['p50_ms']:>8.2f}{result['p99_ms']:>9.2f}"
                f"{result['p999_ms']:>9.2f}{result['longest_queue_mean']:>15.2f}"
                f"{result['longest_queue_p99']:>7g}{result['mean_queue']:>12.2f}"
            )
        for key in ("p99_ms", "p999_ms", "longest_queue_mean"):
            figures[f"{scenario.name}_least_loaded_{key}_vs_p2c"] = round(
                figures[f"{scenario.name}.least_loaded.{key}"]
                / figures[f"{scenario.name}.p2c_peak_ewma.{key}"],
                4,
            )

    print("\nThe least-loaded pool against its goals:")
    goals = [
        ("tower_least_loaded_p99_vs_published", 0.2),
        ("homogeneous_least_loaded_p99_ms_vs_p2c", 1.05),
        ("three_slow_least_loaded_p99_ms_vs_p2c", 0.5),
    ]
    for name, goal in goals:
        value = figures[name]
        print(f"  {name:<44}{value:>8.4f}  (goal: at most {goal:g}x)")
    for name in ("tower_least_loaded_p99_vs_p2c", "many_clients_least_loaded_p99_ms_vs_p2c"):
        print(f"  {name:<44}{figures[name]:>8.4f}")
    if args.plots:
        plot(demo_latencies, runs, args.plots)
    report("fleet", figures)


if __name__ == "__main__":
    main()
