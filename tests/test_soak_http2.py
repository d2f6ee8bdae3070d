"""A soak of the httpx transport over HTTP/2: hedging, cancellations, discovery churn, and
backends that come and go at fresh addresses, on real sockets over TLS.

The soak is skipped unless ``TRIO_POOL_SOAK_SECONDS`` is set (``nox -s soak``): it runs
on the real clock, for long; a five-second run of it is part of the suite. Backends
announce a small ``MAX_CONCURRENT_STREAMS`` (10), so streams that leaked would wedge a
connection within seconds. Every so often a new backend starts on a fresh port and
joins, and an old one is killed (its connections reset mid-request) and removed.
Callers send GETs, a share of them slow (so hedges race), and give up at random. At the
end it prints what it saw (requests, outcomes, HTTP/2 streams still open once idle,
descriptors, memory growth once warm), and asserts that no authority's queue closed,
that every outcome was an answer or one of httpx's own errors, that no stream is left
open, that no descriptor outlives the transport, and that memory stays flat.
"""

from __future__ import annotations

import collections
import gc
import math
import os
import random
import ssl
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trustme

from tests.support.http_servers import Backend, open_backends, write_certificate
from trio_pool import Add, Hedging, Remove, Reset, Update
from trio_pool.httpx import BalancedTransport, BalancerError, open_balanced_transport

SECONDS = float(os.environ.get("TRIO_POOL_SOAK_SECONDS", "0"))

STREAMS = 10
BACKENDS = 4
CALLERS = 24


def descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def open_streams(transport: BalancedTransport) -> int:
    """HTTP/2 streams h2 counts open on the transport's connections (a walk through
    private state, for this check only)."""
    count = 0
    for balancer in transport._balancers.values():
        for member in balancer.pool._membership.made.values():  # type: ignore[attr-defined]
            endpoint = member.endpoint
            if endpoint is None:
                continue
            for connection in endpoint._transport._pool.connections:
                inner = getattr(connection, "_connection", None)
                state = getattr(inner, "_h2_state", None)
                if state is not None and inner is not None and not inner.is_closed():
                    count += state.open_outbound_streams
    return count


@pytest.mark.skipif(not SECONDS, reason="set TRIO_POOL_SOAK_SECONDS to soak")
def test_soak_http2(tmp_path: Path) -> None:
    soak(tmp_path, SECONDS)


def test_five_seconds_of_it(tmp_path: Path) -> None:
    # httpcore's HTTP/2 and connection flaws showed within seconds (a socket left to the
    # garbage collector fails the run: ResourceWarning is an error in the suite).
    soak(tmp_path, 5.0)


def soak(tmp_path: Path, seconds: float) -> None:
    rng = random.Random(2026)
    ca = trustme.CA()
    certificate = write_certificate(ca, tmp_path, "api.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    outcomes: collections.Counter[str] = collections.Counter()
    report: dict[str, Any] = {}

    async def main() -> None:
        send, discovery = trio.open_memory_channel[Update](math.inf)
        live: dict[tuple[str, int], trio.CancelScope] = {}
        fds_before = descriptors()

        async def run_backend(task_status: trio.TaskStatus[tuple[str, int]]) -> None:
            backend = Backend(f"b{rng.randrange(10**6)}", latency=0.002)
            with trio.CancelScope() as scope:
                async with open_backends(backend, certificate=certificate, max_streams=STREAMS):
                    live[backend.address] = scope
                    task_status.started(backend.address)
                    await trio.sleep_forever()

        async with trio.open_nursery() as servers:
            for _ in range(BACKENDS):
                address = await servers.start(run_backend)
                send.send_nowait(Add([(address, None)]))

            async def churn(deadline: float) -> None:
                while trio.current_time() < deadline:
                    await trio.sleep(0.5 + rng.random())
                    address = await servers.start(run_backend)  # a fresh port
                    send.send_nowait(Add([(address, None)]))
                    old = rng.choice([a for a in live if a != address])
                    live.pop(old).cancel()  # killed: its connections reset
                    send.send_nowait(Remove([old]))
                    if rng.random() < 0.1:
                        send.send_nowait(Reset([(a, None) for a in live]))

            async with (
                open_balanced_transport(
                    {"api.test:443": discovery},
                    verify=context,
                    http2=True,
                    hedging=Hedging(delay=0.01),
                ) as transport,
                httpx.AsyncClient(transport=transport, timeout=5.0) as client,
            ):

                async def caller(deadline: float) -> None:
                    while trio.current_time() < deadline:
                        url = "https://api.test/" + ("?delay=0.05" if rng.random() < 0.2 else "")
                        with trio.move_on_after(rng.random() * 0.1 if rng.random() < 0.2 else 60):
                            try:
                                response = await client.get(url)
                                outcomes[str(response.status_code)] += 1
                                continue
                            except BalancerError as exc:
                                outcomes[type(exc).__name__] += 1
                                continue
                            except httpx.TransportError as exc:
                                outcomes[f"httpx.{type(exc).__name__}"] += 1
                                continue
                        outcomes["cancelled"] += 1

                started = trio.current_time()
                deadline = started + seconds
                warm = started + min(30.0, seconds / 4)
                tracemalloc.start()
                async with trio.open_nursery() as load:
                    load.start_soon(churn, deadline)
                    for _ in range(CALLERS):
                        load.start_soon(caller, deadline)
                    await trio.sleep_until(warm)
                    gc.collect()
                    warm_memory = tracemalloc.get_traced_memory()[0]
                gc.collect()
                report["memory growth once warm (KiB)"] = (
                    tracemalloc.get_traced_memory()[0] - warm_memory
                ) // 1024
                tracemalloc.stop()
                await trio.sleep(0.5)  # the last answers and resets go out
                report["HTTP/2 streams open once idle"] = open_streams(transport)
                statistics = transport.statistics().authorities["api.test:443"]
                assert statistics.queue is not None
                report["queue closed"] = statistics.queue.closed
            servers.cancel_scope.cancel()
        await trio.sleep(0.1)
        gc.collect()
        report["descriptors left"] = descriptors() - fds_before

    started = time.monotonic()
    trio.run(main)
    report["seconds"] = round(time.monotonic() - started)
    report["requests"] = sum(outcomes.values())
    print(f"\nHTTP/2 soak: {report}\n  outcomes: {dict(outcomes)}")
    allowed = {"200", "cancelled", "BalancerConnectError", "BalancerConnectTimeout"}
    unexpected = {k for k in outcomes if k not in allowed and not k.startswith("httpx.")}
    assert not unexpected, f"outcomes other than answers and httpx's own errors: {unexpected}"
    assert not report["queue closed"]
    assert report["HTTP/2 streams open once idle"] == 0, "no abandoned stream stays open"
    assert report["descriptors left"] <= 0, "no socket outlives the transport"
    assert report["memory growth once warm (KiB)"] < 4096
    assert outcomes["200"] > report["requests"] // 2
