"""The transport's metrics: each authority's queue and pool, each endpoint's requests, and
series that go when what they describe goes."""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry, generate_latest

from trio_pool import Add, PendingRequests, Remove, Reset, Update

from ..support.http_servers import Backend, open_backends
from ._flavour import (
    TransportMetricFamilies,
    TransportMetrics,
    httpx,
    open_balanced_transport,
)
from ._helpers import Pools, Resolver


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def series(registry: CollectorRegistry, **labels: str) -> set[tuple[str, tuple[Any, ...]]]:
    """Every sample of the registry whose labels include ``labels``."""
    found = set()
    for family in registry.collect():
        for sample in family.samples:
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                found.add((sample.name, tuple(sorted(sample.labels.items()))))
    return found


def endpoint(backend: Backend) -> str:
    return f"127.0.0.1:{backend.port}"


async def test_queue_pool_and_endpoint_series_by_authority() -> None:
    registry = CollectorRegistry()
    families = TransportMetricFamilies.register(registry)
    ok, failing = Backend("ok"), Backend("failing", status=500)
    async with open_backends(ok, failing) as backends:
        resolver = Resolver({"api.test:80": [b.address for b in backends]})
        async with (
            open_balanced_transport(resolver, metrics=families) as transport,
            httpx.AsyncClient(transport=transport) as client,
        ):
            statuses = [(await client.get("http://api.test/")).status_code for _ in range(20)]
            api = {"authority": "api.test:80"}
            assert value(registry, "trio_pool_queue_requests_total", **api) == 20
            assert value(registry, "trio_pool_queue_latency_seconds_count", **api) == 20
            assert value(registry, "trio_pool_queue_length", **api) == 0
            assert value(registry, "trio_pool_queue_failfast_timeout_seconds", **api) == 3.0
            assert value(registry, "trio_pool_endpoints", **api) == 2
            assert value(registry, "trio_pool_updates_total", op="reset", **api) == 1

            for backend in backends:
                labels = {**api, "endpoint": endpoint(backend)}
                sent = value(registry, "trio_pool_endpoint_requests_total", **labels)
                assert sent == backend.requests, "each request counted at its endpoint"
                assert value(registry, "trio_pool_endpoint_latency_seconds_count", **labels) == sent
                assert value(registry, "trio_pool_endpoint_in_flight", **labels) == 0
            failures = value(
                registry,
                "trio_pool_endpoint_request_failures_total",
                **api,
                endpoint=endpoint(failing),
            )
            assert failures == statuses.count(500) == failing.requests, "a 5xx is a failure"
            assert (
                value(
                    registry,
                    "trio_pool_endpoint_request_failures_total",
                    **api,
                    endpoint=endpoint(ok),
                )
                == 0
            )

            async with client.stream("GET", "http://api.test/?chunks=2") as streamed:
                holder = ok if streamed.headers["x-backend"] == "ok" else failing
                in_flight = {**api, "endpoint": endpoint(holder)}
                assert value(registry, "trio_pool_endpoint_in_flight", **in_flight) == 1, (
                    "in flight until the body is closed"
                )
            assert value(registry, "trio_pool_endpoint_in_flight", **in_flight) == 0
            text = generate_latest(registry).decode()
            assert f'{{authority="api.test:80",endpoint="{endpoint(ok)}"}}' in text
    assert series(registry) == set(), "the closed transport leaves no series behind"


async def test_an_endpoint_that_cannot_connect_counts_a_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()
    registry = CollectorRegistry()
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [dead, a.address]})
        async with (
            open_balanced_transport(
                resolver,
                metrics=TransportMetricFamilies.register(registry),
                new_pool=Pools(load=PendingRequests()),
            ) as transport,
            httpx.AsyncClient(transport=transport) as client,
        ):
            for _ in range(6):
                assert (await client.get("http://api.test/")).text == "a"
            labels = {"authority": "api.test:80", "endpoint": f"127.0.0.1:{dead[1]}"}
            sent = value(registry, "trio_pool_endpoint_requests_total", **labels)
            assert sent is not None
            assert sent >= 1
            assert value(registry, "trio_pool_endpoint_request_failures_total", **labels) == sent
            assert value(registry, "trio_pool_endpoint_in_flight", **labels) == 0
            assert value(registry, "trio_pool_endpoint_latency_seconds_count", **labels) == 0
            failures = value(registry, "trio_pool_endpoint_failures_total", authority="api.test:80")
            assert failures is not None
            assert failures >= 1, "the pool's own count of endpoints that failed"


async def test_an_endpoint_that_leaves_takes_its_series(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry = CollectorRegistry()
    send, receive = trio.open_memory_channel[Update](math.inf)
    addresses = [(f"10.0.0.{i}", 8080) for i in range(1, 4)]
    send.send_nowait(Reset([(address, None) for address in addresses]))
    async with open_balanced_transport(
        {"api.test:80": receive}, metrics=TransportMetricFamilies.register(registry)
    ) as transport:
        # The balancer starts on its first request; this one need not succeed.
        with trio.move_on_after(0.01):
            await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
        await trio.testing.wait_all_tasks_blocked()

        def endpoints() -> set[str]:
            return {
                dict(labels)["endpoint"]
                for name, labels in series(registry, authority="api.test:80")
                if name == "trio_pool_endpoint_in_flight"
            }

        assert endpoints() == {"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}
        send.send_nowait(Remove([("10.0.0.1", 8080)]))
        await trio.testing.wait_all_tasks_blocked()
        assert endpoints() == {"10.0.0.2:8080", "10.0.0.3:8080"}
        send.send_nowait(Add([(("10.0.0.2", 8080), "new target"), (("::1", 8080), None)]))
        await trio.testing.wait_all_tasks_blocked()
        assert endpoints() == {"10.0.0.2:8080", "10.0.0.3:8080", "[::1]:8080"}
        send.send_nowait(Reset([(("10.0.0.3", 8080), None)]))
        await trio.testing.wait_all_tasks_blocked()
        assert endpoints() == {"10.0.0.3:8080"}


async def test_a_churning_fleet_does_not_grow_the_registry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry = CollectorRegistry()
    send, receive = trio.open_memory_channel[Update](math.inf)
    async with open_balanced_transport(
        {"api.test:80": receive}, metrics=TransportMetricFamilies.register(registry)
    ) as transport:
        send.send_nowait(Reset([]))
        with trio.move_on_after(0.01):
            await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
        sizes = []
        for generation in range(30):
            fleet = [((f"10.{generation}.0.{i}", 8080), None) for i in range(10)]
            send.send_nowait(Reset(fleet))
            await trio.testing.wait_all_tasks_blocked()
            sizes.append(len(series(registry)))
    assert len(set(sizes)) == 1, f"the registry holds the same series each generation: {sizes}"


async def test_an_idle_balancer_drops_its_authoritys_series(
    mock_clock: trio.testing.MockClock,
) -> None:
    registry = CollectorRegistry()
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [a.address], "other.test:80": [a.address]})
        async with (
            open_balanced_transport(
                resolver, metrics=TransportMetricFamilies.register(registry), idle_timeout=60
            ) as transport,
            httpx.AsyncClient(transport=transport) as client,
        ):
            await client.get("http://api.test/")
            await client.get("http://other.test/")
            assert series(registry, authority="api.test:80")
            mock_clock.jump(30)
            await client.get("http://other.test/")
            mock_clock.jump(31)
            await trio.testing.wait_all_tasks_blocked()
            assert [str(s.authority) for s in transport.statistics().authorities] == [
                "other.test:80"
            ]
            assert series(registry, authority="api.test:80") == set(), "all of its series"
            assert series(registry, authority="other.test:80")

            await client.get("http://api.test/")
            assert (
                value(registry, "trio_pool_queue_requests_total", authority="api.test:80") == 1
            ), "a new balancer counts afresh"
        assert series(registry, authority="other.test:80") == set(), "closing drops the rest"


async def test_both_schemes_on_one_host_and_port_keep_their_series_apart() -> None:
    registry = CollectorRegistry()
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"http://api.test:8080": [a.address], "https://api.test:8080": []})
        async with (
            open_balanced_transport(
                resolver, metrics=TransportMetricFamilies.register(registry), failfast_timeout=0.1
            ) as transport,
            httpx.AsyncClient(transport=transport) as client,
        ):
            await client.get("http://api.test:8080/")
            with pytest.raises(httpx.ConnectError):
                await client.get("https://api.test:8080/")
            assert value(registry, "trio_pool_queue_requests_total", authority="api.test:8080") == 1
            tls = {"authority": "https://api.test:8080"}
            assert value(registry, "trio_pool_queue_requests_total", **tls) == 1
            assert value(registry, "trio_pool_queue_gate_shut_total", **tls) == 1


async def test_label_names_of_the_users_own() -> None:
    registry = CollectorRegistry()
    families = TransportMetricFamilies.register(registry, labelnames=["client"])
    async with open_backends(Backend("a")) as (a,):
        resolver = Resolver({"api.test:80": [a.address]})
        async with (
            open_balanced_transport(resolver, metrics=families.labels(client="one")) as one,
            open_balanced_transport(resolver, metrics=families.labels(client="two")) as two,
            httpx.AsyncClient(transport=one) as client_one,
            httpx.AsyncClient(transport=two) as client_two,
        ):
            await client_one.get("http://api.test/")
            for _ in range(2):
                await client_two.get("http://api.test/")
            labels = {"authority": "api.test:80", "endpoint": endpoint(a)}
            assert value(registry, "trio_pool_endpoint_requests_total", client="one", **labels) == 1
            assert value(registry, "trio_pool_endpoint_requests_total", client="two", **labels) == 2


async def test_two_open_transports_cannot_share_label_values() -> None:
    families = TransportMetricFamilies.register(CollectorRegistry())
    async with open_balanced_transport({}, metrics=families):
        with pytest.raises(ValueError, match="in use by another open balanced transport"):
            async with open_balanced_transport({}, metrics=families):
                pytest.fail("the block must not run")
    async with open_balanced_transport({}, metrics=families):
        pass  # free again once the first one closed


def test_families_with_label_names_need_their_values() -> None:
    families = TransportMetricFamilies.register(CollectorRegistry(), labelnames=["client"])
    with pytest.raises(ValueError, match=r"metrics=families.labels\(client=\.\.\.\)"):
        open_balanced_transport({}, metrics=families)
    with pytest.raises(ValueError, match="exactly the label names"):
        families.labels(service="x")
    assert isinstance(families.labels(client="x"), TransportMetrics)


@pytest.mark.parametrize("name", ["authority", "endpoint", "op"])
def test_the_transports_own_label_names_are_taken(name: str) -> None:
    with pytest.raises(ValueError, match="set by the transport"):
        TransportMetricFamilies.register(CollectorRegistry(), labelnames=[name])


def test_metrics_must_be_transport_families() -> None:
    with pytest.raises(TypeError, match=r"TransportMetricFamilies.register\(registry\)"):
        open_balanced_transport({}, metrics=CollectorRegistry())  # type: ignore[arg-type]


def test_families_register_once_per_registry_and_prefix() -> None:
    registry = CollectorRegistry()
    TransportMetricFamilies.register(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        TransportMetricFamilies.register(registry)
    TransportMetricFamilies.register(registry, prefix="other")


async def test_a_custom_pool_counts_in_the_transports_metrics() -> None:
    registry = CollectorRegistry()

    async def discovery(address: tuple[str, int]) -> AsyncIterator[Update]:
        yield Reset([(address, None)])
        await trio.sleep_forever()

    async with (
        open_backends(Backend("a")) as (a,),
        open_balanced_transport(
            {"api.test:80": discovery(a.address)},
            new_pool=Pools(),  # passes metrics=new_endpoint.pool_metrics
            metrics=TransportMetricFamilies.register(registry),
        ) as transport,
        httpx.AsyncClient(transport=transport) as client,
    ):
        await client.get("http://api.test/")
        assert value(registry, "trio_pool_endpoints", authority="api.test:80") == 1


async def test_watching_discovery_for_metrics_keeps_who_closes_what(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # With metrics, the transport watches each update on its way to the pool; what the
    # queue would close without the watch (a generator) it still closes, and what it
    # would leave to its owner (a memory channel) it still leaves.
    closed: list[str] = []

    async def generator() -> AsyncIterator[Update]:
        try:
            yield Reset([])
            await trio.sleep_forever()
        finally:
            closed.append("generator")

    send, receive = trio.open_memory_channel[Update](math.inf)
    send.send_nowait(Reset([]))
    resolve = {"gen.test:80": generator(), "chan.test:80": receive}
    async with open_balanced_transport(
        resolve, metrics=TransportMetricFamilies.register(CollectorRegistry()), failfast_timeout=1
    ) as transport:
        for authority in ("gen.test", "chan.test"):
            with pytest.raises(httpx.ConnectError):
                await transport.handle_async_request(httpx.Request("GET", f"http://{authority}/"))
    assert closed == ["generator"]
    send.send_nowait(Reset([]))  # the channel is still open: its owner closes it
    await receive.aclose()


def test_endpoint_series_read_as_prometheus_families() -> None:
    registry = CollectorRegistry()
    families = TransportMetricFamilies.register(registry)
    series_of = families.endpoint.labels(("api.test:80", "10.0.0.1:80"))
    again = families.endpoint.labels(("api.test:80", "10.0.0.1:80"))
    assert series_of.requests is again.requests, "one series per key"
    assert series_of.latency is again.latency, "one series per key"
    for seconds in (0.001, 0.0011, 0.005, 20.0):
        series_of.latency.observe(seconds)
    series_of.requests.inc()
    series_of.in_flight.inc()
    series_of.in_flight.inc()
    series_of.in_flight.dec()
    labels = {"authority": "api.test:80", "endpoint": "10.0.0.1:80"}

    def bucket(le: str) -> float | None:
        return value(registry, "trio_pool_endpoint_latency_seconds_bucket", **labels, le=le)

    assert bucket("0.001") == 1, "a bucket's bound is inclusive"
    assert bucket("0.0025") == 2
    assert bucket("0.005") == 3
    assert bucket("10.0") == 3
    assert bucket("+Inf") == 4
    assert value(registry, "trio_pool_endpoint_latency_seconds_count", **labels) == 4
    assert value(registry, "trio_pool_endpoint_latency_seconds_sum", **labels) == pytest.approx(
        20.0071
    )
    assert value(registry, "trio_pool_endpoint_requests_total", **labels) == 1
    assert value(registry, "trio_pool_endpoint_in_flight", **labels) == 1
    with pytest.raises(ValueError, match="expected values for"):
        families.endpoint.labels(("api.test:80",))
    families.endpoint.remove(("api.test:80", "10.0.0.1:80"))
    assert series(registry, endpoint="10.0.0.1:80") == set()
