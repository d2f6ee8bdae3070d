"""httpx: requests/s through the balanced transport, against plain httpx, on loopback.

Three minimal HTTP/1.1 keep-alive backends run in a separate process (so that they cost
the client nothing) on loopback ports. The same ``httpx.AsyncClient`` workload, the same
number of concurrent tasks, runs through two transports in turn, interleaved over several
rounds of the same run:

- *plain*: httpx's own transport, to the first backend;
- *balanced*: ``trio_pool.httpx.open_balanced_transport``, the logical host resolved to
  the three backends (P2C over Peak-EWMA);
- *metered*: the same, with ``metrics=TransportMetricFamilies.register(registry)``: the
  queue's, the pool's and each endpoint's series, kept up to date on every request.

Figures, at each concurrency (1 task, then 16 by default): requests/s of each (best
round) and the ratio to plain, whose target is >= 0.9; the median and 99th percentile
latency of each (best round) and what balancing adds to them; the client's CPU time per
request (best round), which a busy machine disturbs less than the wall clock. The
backends answer at once, so the figures show the transport's cost at its most visible.
With many tasks, httpx's own connection pool costs more per request the more
connections it holds, and the balanced transport spreads them over one pool per
backend: expect a ratio above 1 there.

With ``--in-process``, no socket is involved: every contender answers from an
``httpx.MockTransport`` (the balanced ones with their endpoints' connection pools swapped
for it), so the figure is the transport's own cost per request, in CPU time, which a
busy machine disturbs far less than a loopback round trip. A fourth contender there,
*no_retry*, is *balanced* with ``retry=None``: what the default retry policy costs a
request that needs no retry.

    ./dev python benchmarks/bench_httpx.py [--requests N] [--concurrency C,C] [--rounds R]
    ./dev python benchmarks/bench_httpx.py --in-process [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import trio
from _common import report
from prometheus_client import CollectorRegistry

import trio_pool
from trio_pool.httpx import NewEndpoint, TransportMetricFamilies, open_balanced_transport

BACKENDS = 3
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
# A whole contender's run never takes longer than this, whatever the machine.
RUN_LIMIT = 120.0


# -- the backends, in their own process --------------------------------------------------


async def _answer(stream: trio.SocketStream) -> None:
    buffered = b""
    try:
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            buffered += data
            requests = buffered.count(b"\r\n\r\n")
            if requests:
                # httpx sends GETs without a body: each header block is one request.
                buffered = buffered[buffered.rindex(b"\r\n\r\n") + 4 :]
                await stream.send_all(RESPONSE * requests)
    except trio.BrokenResourceError:
        return


async def _serve() -> None:
    async with trio.open_nursery() as nursery:
        ports = []
        for _ in range(BACKENDS):
            listeners = await nursery.start(partial(trio.serve_tcp, _answer, 0, host="127.0.0.1"))
            ports.append(listeners[0].socket.getsockname()[1])
        print("ports", *ports, flush=True)
        # Serve until the benchmark closes our stdin (or dies).
        await trio.to_thread.run_sync(sys.stdin.read)
        nursery.cancel_scope.cancel()


def start_backends() -> tuple[subprocess.Popen[str], list[int]]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if not line or line[0] != "ports":
        process.kill()
        raise RuntimeError(f"the backends did not start: {line!r}")
    return process, [int(port) for port in line[1:]]


# -- the client side ---------------------------------------------------------------------


async def workload(
    client: httpx.AsyncClient, url: str, requests: int, concurrency: int
) -> tuple[float, list[float], float]:
    """Send ``requests`` GETs from ``concurrency`` tasks; requests/s, each latency, and
    the client's CPU seconds per request."""
    latencies: list[float] = []
    each = requests // concurrency

    async def worker() -> None:
        for _ in range(each):
            start = time.perf_counter()
            response = await client.get(url)
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 200

    start, cpu = time.perf_counter(), time.process_time()
    with trio.fail_after(RUN_LIMIT):
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)
    cpu = (time.process_time() - cpu) / len(latencies)
    return len(latencies) / (time.perf_counter() - start), latencies, cpu


async def static(ports: list[int], *_: Any) -> AsyncIterator[trio_pool.Update]:
    yield trio_pool.Reset([(("127.0.0.1", port), None) for port in ports])
    await trio.sleep_forever()


Run = Callable[[int, int], Awaitable[tuple[float, list[float], float]]]


async def compare(ports: list[int], concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    plain_url = f"http://127.0.0.1:{ports[0]}/"
    registry = CollectorRegistry()
    async with (
        httpx.AsyncClient() as plain,
        open_balanced_transport(partial(static, ports)) as transport,
        httpx.AsyncClient(transport=transport) as balanced,
        open_balanced_transport(
            partial(static, ports), metrics=TransportMetricFamilies.register(registry)
        ) as metered_transport,
        httpx.AsyncClient(transport=metered_transport) as metered,
    ):
        contenders: dict[str, Run] = {
            "plain": lambda n, c: workload(plain, plain_url, n, c),
            "balanced": lambda n, c: workload(balanced, "http://bench.test/", n, c),
            "metered": lambda n, c: workload(metered, "http://bench.test/", n, c),
        }
        for run in contenders.values():  # warm up: connections, the balancer, caches
            await run(concurrency * 20, concurrency)
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        p50: dict[str, list[float]] = {name: [] for name in contenders}
        p99: dict[str, list[float]] = {name: [] for name in contenders}
        cpus: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, run in contenders.items():
                rate, latencies, cpu = await run(args.requests, concurrency)
                cuts = statistics.quantiles(latencies, n=100)
                cpus[name].append(cpu)
                rates[name].append(rate)
                p50[name].append(cuts[49])
                p99[name].append(cuts[98])
        counted = registry.get_sample_value(
            "trio_pool_queue_requests_total", {"authority": "bench.test:80"}
        )
        assert counted, "the metered transport counts its requests"
    return {
        "rate": {name: max(values) for name, values in rates.items()},
        "p50": {name: min(values) for name, values in p50.items()},
        "p99": {name: min(values) for name, values in p99.items()},
        "cpu": {name: min(values) for name, values in cpus.items()},
    }


def _mock_answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"ok")


def _over_mock(new_endpoint: NewEndpoint) -> trio_pool.P2CPool[Any, Any, Any, Any]:
    """The transport's own pool, over endpoints whose connection pool is a MockTransport."""

    def make(address: Any, target: Any) -> Any:
        endpoint = new_endpoint(address, target)
        endpoint._transport = httpx.MockTransport(_mock_answer)
        return endpoint

    return trio_pool.P2CPool(make, load=trio_pool.PeakEwma(), metrics=new_endpoint.pool_metrics)


async def in_process(args: argparse.Namespace) -> dict[str, float]:
    """Seconds of CPU per request of each contender, best round, all over MockTransport."""
    ports = [1, 2, 3]
    registry = CollectorRegistry()
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(_mock_answer)) as plain,
        open_balanced_transport(partial(static, ports), new_pool=_over_mock) as transport,
        httpx.AsyncClient(transport=transport) as balanced,
        open_balanced_transport(
            partial(static, ports),
            new_pool=_over_mock,
            metrics=TransportMetricFamilies.register(registry),
        ) as metered_transport,
        httpx.AsyncClient(transport=metered_transport) as metered,
        open_balanced_transport(
            partial(static, ports), new_pool=_over_mock, retry=None
        ) as once_transport,
        httpx.AsyncClient(transport=once_transport) as once,
    ):
        clients = {"plain": plain, "balanced": balanced, "metered": metered, "no_retry": once}
        best = dict.fromkeys(clients, math.inf)
        for round_ in range(args.rounds + 1):
            for name, client in clients.items():
                start = time.process_time()
                for _ in range(args.requests):
                    await client.get("http://bench.test/")
                spent = (time.process_time() - start) / args.requests
                if round_:  # the first round warms up
                    best[name] = min(best[name], spent)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1600, help="requests per round")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(c) for c in text.split(",")],
        default=[1, 16],
        help="concurrent tasks, a comma-separated list",
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--in-process", action="store_true", help="no sockets: the transport's own CPU cost"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        trio.run(_serve)
        return
    if args.in_process:
        cpu = trio.run(in_process, args)
        measured: dict[str, Any] = {"requests_per_round": args.requests, "rounds": args.rounds}
        for name, spent in cpu.items():
            added = spent - cpu["plain"]
            print(f"in process, {name}: {spent * 1e6:.1f} us CPU a request, {added * 1e6:+.1f} us")
            measured[f"in_process_{name}_us"] = round(spent * 1e6, 1)
            measured[f"in_process_{name}_added_us"] = round(added * 1e6, 1)
        report("httpx_in_process", measured)
        return

    process, ports = start_backends()
    results: dict[int, dict[str, Any]] = {}
    try:
        for concurrency in args.concurrency:
            results[concurrency] = trio.run(compare, ports, concurrency, args)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)

    figures: dict[str, Any] = {"requests_per_round": args.requests, "rounds": args.rounds}
    for concurrency, result in results.items():
        rate, p50, p99, cpu = result["rate"], result["p50"], result["p99"], result["cpu"]
        for name, label in (("balanced", "balanced"), ("metered", "balanced, with metrics,")):
            ratio = rate[name] / rate["plain"]
            print(
                f"{concurrency:>3} tasks: plain httpx to 1 backend {rate['plain']:,.0f} req/s, "
                f"{label} over {BACKENDS} {rate[name]:,.0f} req/s = {ratio:.2f}x plain "
                "(target >= 0.9x)"
            )
            key = "" if name == "balanced" else "metered_"
            figures[f"{key}ratio_{concurrency}"] = round(ratio, 3)
            figures[f"{name}_requests_per_s_{concurrency}"] = round(rate[name])
            for cut_name, cut in (("p50", p50), ("p99", p99)):
                added = cut[name] - cut["plain"]
                print(
                    f"     {cut_name} latency: plain {cut['plain'] * 1e3:.3f} ms, {name} "
                    f"{cut[name] * 1e3:.3f} ms = {cut[name] / cut['plain']:.2f}x plain, "
                    f"{added * 1e6:+.0f} us added"
                )
                figures[f"{cut_name}_{name}_us_{concurrency}"] = round(cut[name] * 1e6)
                figures[f"{cut_name}_{key}added_us_{concurrency}"] = round(added * 1e6)
                figures[f"{cut_name}_{key}ratio_{concurrency}"] = round(cut[name] / cut["plain"], 3)
            added_cpu = cpu[name] - cpu["plain"]
            print(
                f"     client CPU per request: plain {cpu['plain'] * 1e6:.0f} us, {name} "
                f"{cpu[name] * 1e6:.0f} us, {added_cpu * 1e6:+.0f} us added"
            )
            figures[f"cpu_{name}_us_{concurrency}"] = round(cpu[name] * 1e6, 1)
            figures[f"cpu_{key}added_us_{concurrency}"] = round(added_cpu * 1e6, 1)
        figures[f"plain_requests_per_s_{concurrency}"] = round(rate["plain"])
        figures[f"cpu_plain_us_{concurrency}"] = round(cpu["plain"] * 1e6, 1)
        for cut_name, cut in (("p50", p50), ("p99", p99)):
            figures[f"{cut_name}_plain_us_{concurrency}"] = round(cut["plain"] * 1e6)
    report("httpx", figures)


if __name__ == "__main__":
    main()
