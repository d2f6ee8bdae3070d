"""`EndpointSliceDiscovery` against a fake Kubernetes API server on 127.0.0.1.

The fake (tests/support/fake_kubernetes.py) speaks real HTTP, and TLS where a test
gives it a certificate; it lives in the test's Trio run, so these tests drive the
source, the server and its watch timeouts on one mock clock. The sections follow the
behaviours the source promises: list, watch, 410 and backoff, the union of slices,
ports, conditions, zones, credentials, a missing Service, bad records; a property test
drives random sequences of changes and faults against a model.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_pool import Add, Backoff, DoesNotExist, Remove, Reset, Update
from trio_pool.discovery import EndpointSliceDiscovery, Meta
from trio_pool.discovery._kubernetes import (
    SERVICE_ACCOUNT_CA,
    SERVICE_ACCOUNT_TOKEN,
    in_cluster_url,
)
from trio_pool.httpx import open_balanced_transport

from ..support.discovery import Updates, collect, errors, new_metrics, updates_counted, watch_log
from ..support.fake_kubernetes import (
    FakeKubernetes,
    Obj,
    Seen,
    endpoint,
    open_fake_kubernetes,
    service_port,
    slice_port,
)
from ..support.http_servers import Backend, open_backends

LOGGER = "trio_pool.discovery.kubernetes"
NO_JITTER = Backoff(initial=1.0, maximum=4.0, multiplier=2.0, jitter=0.0)
PATIENCE = 10_000.0
READY = Meta(ready=True, serving=True, terminating=False)
TERMINATING = Meta(ready=False, serving=True, terminating=True)


def source(api: FakeKubernetes, **options: Any) -> EndpointSliceDiscovery:
    options.setdefault("backoff", NO_JITTER)
    options.setdefault("rng", random.Random(7))
    options.setdefault("url", api.url)
    return EndpointSliceDiscovery(options.pop("service", "users"), **options)


@asynccontextmanager
async def fake(**fields: Any) -> AsyncIterator[FakeKubernetes]:
    """A fake API server with the Service ``users`` (port ``http``: 80 -> 8080)."""
    async with open_fake_kubernetes(**fields) as api:
        api.put_service("users")
        yield api


@asynccontextmanager
async def watching(api: FakeKubernetes, **options: Any) -> AsyncIterator[Updates]:
    with trio.fail_after(PATIENCE):
        async with collect(source(api, **options), patience=PATIENCE) as updates:
            yield updates


def ep(ip: str, port: int = 8080) -> tuple[str, int]:
    return (ip, port)


# -- 1. list: paginated, one snapshot, an expired continue token restarts it ----------


async def test_the_list_pages_through_one_snapshot_then_watches_from_its_version(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        for name in "abcde":
            api.put_slice(
                f"users-{name}", service="users", endpoints=[endpoint(f"10.0.0.{ord(name)}")]
            )
        api.put_slice("other-a", service="other", endpoints=[endpoint("10.9.9.9")])

        def change_between_pages(seen: Seen) -> None:
            if seen.kind == "continue" and len(api.requests_of("continue")) == 1:
                api.delete_slice("users-a")  # on the first page: the list still has it
                api.put_slice("users-f", service="users", endpoints=[endpoint("10.0.0.102")])

        api.on_request = change_between_pages
        async with watching(api, page_size=2) as updates:
            assert await updates.next() == Reset(
                [(ep(f"10.0.0.{ord(name)}"), READY) for name in "abcde"]
            ), "the list is one snapshot, whatever changed between its pages"
            await updates.until({ep(f"10.0.0.{ord(name)}"): READY for name in "bcdef"})
        lists = [s for s in api.requests if s.kind in ("list", "continue")]
        assert [s.query["limit"] for s in lists] == ["2", "2", "2"]
        assert "continue" not in lists[0].query
        assert lists[1].query["continue"]
        assert lists[2].query["continue"] != lists[1].query["continue"]
        assert all(s.query["labelSelector"] == "kubernetes.io/service-name=users" for s in lists)
        watch = api.requests_of("watch")[0].query
        assert api.watch_starts[0] not in (None, api.version), "from the list's own version"
        assert watch["resourceVersion"] == api.watch_starts[0]


async def test_an_expired_continue_token_restarts_the_list(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    async with fake() as api:
        for name in "abc":
            api.put_slice(
                f"users-{name}", service="users", endpoints=[endpoint(f"10.0.0.{ord(name)}")]
            )
        api.fail_next("continue", 410, before=lambda: api.delete_slice("users-a"))
        async with watching(api, page_size=2, metrics=metrics) as updates:
            assert await updates.next() == Reset(
                [(ep("10.0.0.98"), READY), (ep("10.0.0.99"), READY)]
            ), "the list started over, and shows the state after the change"
            assert trio.current_time() == 0, "at once, without a backoff"
        kinds = [s.kind for s in api.requests if s.kind != "get"]
        assert kinds[:3] == ["list", "continue", "list"], "two slices left: one page"
        assert errors(registry, "kubernetes", "compacted") == 1
        assert errors(registry, "kubernetes", "unavailable") == 0


async def test_a_continue_token_that_keeps_expiring_is_retried_with_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        for name in "abc":
            api.put_slice(
                f"users-{name}", service="users", endpoints=[endpoint(f"10.0.0.{ord(name)}")]
            )
        api.fail_next("continue", 410, times=3)
        with watch_log(LOGGER, "continue token expired") as expired:
            async with watching(api, page_size=2) as updates:
                assert len((await updates.next()).endpoints) == 3  # type: ignore[union-attr]
        assert expired.times == [0, 0, 1], "once at once, then after the backoff"
        assert trio.current_time() == 3


# -- 2. watch: events, bookmarks, normal closes, opaque versions ----------------------


async def test_watch_events_become_adds_and_removes(autojump_clock: trio.testing.MockClock) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api) as updates:
            assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])
            api.put_slice(
                "users-b", service="users", endpoints=[endpoint("10.0.0.2", zone="z1", pod="p2")]
            )
            target = Meta(
                ready=True,
                serving=True,
                terminating=False,
                zone="z1",
                target_ref={"kind": "Pod", "namespace": "default", "name": "p2"},
            )
            assert await updates.next() == Add([(ep("10.0.0.2"), target)])
            api.put_slice(
                "users-a",
                service="users",
                endpoints=[endpoint("10.0.0.1", node="n1", hostname="h1")],
            )
            changed = Meta(
                ready=True, serving=True, terminating=False, node_name="n1", hostname="h1"
            )
            assert await updates.next() == Add([(ep("10.0.0.1"), changed)]), "a new target"
            api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1", ready=False)])
            assert await updates.next() == Remove([ep("10.0.0.1")]), "no longer ready"
            api.delete_slice("users-b")
            assert await updates.next() == Remove([ep("10.0.0.2")])
        watch = api.requests_of("watch")[0].query
        assert watch["watch"] == "1"
        assert watch["allowWatchBookmarks"] == "true"
        assert watch["labelSelector"] == "kubernetes.io/service-name=users"
        assert 300 <= int(watch["timeoutSeconds"]) < 600


async def test_a_normal_close_watches_again_from_the_last_version_and_keeps_the_pool(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api) as updates:
            await updates.next()
            api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
            await updates.next()
            seen = api.version
            api.close_watches()
            await api.wait_watches(2)
            await updates.none_within(1.0)
            api.put_slice("users-c", service="users", endpoints=[endpoint("10.0.0.3")])
            assert await updates.next() == Add([(ep("10.0.0.3"), READY)])
        assert api.watch_starts[1] == seen, "from the last event's version"
        assert len(api.requests_of("list")) == 1, "no new list"


async def test_bookmarks_move_the_version_forward(autojump_clock: trio.testing.MockClock) -> None:
    async with fake(bookmark_at_timeout=False) as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api) as updates:
            await updates.next()
            await api.wait_watches(1)
            for i in range(3):  # changes the watch does not see: another Service's
                api.put_slice(f"other-{i}", service="other", endpoints=[endpoint("10.9.0.1")])
            api.bookmark()
            bookmarked = api.version
            await trio.testing.wait_all_tasks_blocked()
            api.close_watches()
            await api.wait_watches(2)
            await updates.none_within(1.0)
        assert api.watch_starts[1] == bookmarked


async def test_the_server_ends_a_watch_after_its_timeout_with_a_bookmark(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api) as updates:
            await updates.next()
            await api.wait_watches(1)
            api.put_slice("other-a", service="other", endpoints=[endpoint("10.9.0.1")])
            await api.wait_watches(3)
            assert updates.drain() == [], "timeouts change nothing"
        first, second = (int(s.query["timeoutSeconds"]) for s in api.requests_of("watch")[:2])
        assert trio.current_time() >= first + second
        assert api.watch_starts[1] == api.version, "the bookmark sent at the timeout"


async def test_versions_are_only_ever_sent_back(autojump_clock: trio.testing.MockClock) -> None:
    # The fake's versions are hashes: an ordering or arithmetic on them would go wrong.
    async with fake(epoch="x") as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        versions = []
        async with watching(api) as updates:
            await updates.next()
            for i in range(5):
                api.put_slice("users-a", service="users", endpoints=[endpoint(f"10.0.1.{i}")])
                versions.append(api.version)
                await updates.until({ep(f"10.0.1.{i}"): READY})
                api.close_watches()
                await api.wait_watches(i + 2)
        assert api.watch_starts[1:] == versions
        assert not all(a < b for a, b in itertools.pairwise(versions)), "not in order"


# -- 3. 410 Gone, backoff ---------------------------------------------------------------


@pytest.mark.parametrize("as_status", [True, False], ids=["http-410", "error-event"])
async def test_an_expired_version_relists_and_yields_only_what_changed(
    autojump_clock: trio.testing.MockClock, as_status: bool
) -> None:
    registry, metrics = new_metrics()
    async with fake(expired_as_status=as_status) as api:
        for name in "ab":
            api.put_slice(
                f"users-{name}", service="users", endpoints=[endpoint(f"10.0.0.{ord(name)}")]
            )
        with watch_log(LOGGER, "the watch ended") as ended:
            async with watching(api, metrics=metrics) as updates:
                await updates.next()
                await api.wait_watches(1)
                api.abort_watches()
                await trio.testing.wait_all_tasks_blocked()
                api.delete_slice("users-a")
                api.put_slice("users-c", service="users", endpoints=[endpoint("10.0.0.99")])
                api.compact()
                assert await updates.next() == Add([(ep("10.0.0.99"), READY)])
                assert await updates.next() == Remove([ep("10.0.0.97")])
                assert ended.seen == 0
        assert len(api.requests_of("list")) == 2
        assert errors(registry, "kubernetes", "compacted") == 1
        assert updates_counted(registry, "kubernetes", "reset") == 1, "no second Reset"
        assert trio.current_time() == 1.0, "the backoff after the drop, none after the 410"


async def test_a_410_in_the_stream_of_a_live_watch_relists(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api) as updates:
            await updates.next()
            await api.wait_watches(1)
            api.expire_watches()
            await api.wait_watches(2)
            await updates.none_within(1.0)
            api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
            assert await updates.next() == Add([(ep("10.0.0.2"), READY)])
        assert len(api.requests_of("list")) == 2


async def test_410_after_410_backs_off(autojump_clock: trio.testing.MockClock) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        api.fail_next("watch", 410, times=3)
        with watch_log(LOGGER, "410") as expired:
            async with watching(api) as updates:
                await updates.next()
                await api.wait_watches(1)
                await updates.none_within(10)
        assert expired.times == [0, 0, 1], "at once, then after 1 s, then 2 s"
        assert len(api.requests_of("list")) == 4
        assert api.watch_starts == [api.watch_starts[0]], "the fourth list's watch went through"


async def test_throttling_and_server_errors_back_off_honouring_retry_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        api.fail_next("get", 504)
        api.fail_next("list", 429, retry_after="3")
        api.fail_next("list", 500)
        with watch_log(LOGGER, "keeping the last endpoints") as failures:
            async with watching(api, metrics=metrics) as updates:
                assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])
        assert failures.times == [0, 1, 4], "get 504, list 429 (Retry-After: 3), list 500"
        assert trio.current_time() == 8, "backoff 1, then 2 raised to 3, then 4"
        assert errors(registry, "kubernetes", "unavailable") == 3


async def test_a_watch_that_ends_at_once_without_an_event_backs_off(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    async with fake(empty_watches=3) as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        with watch_log(LOGGER, "the watch ended at once") as short:
            async with watching(api, metrics=metrics) as updates:
                await updates.next()
                await api.wait_watches(4)
                api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
                assert await updates.next() == Add([(ep("10.0.0.2"), READY)])
        assert short.times == [0, 1, 3], "not a busy loop: 1 s, then 2 s, then 4 s"
        assert trio.current_time() == 7
        assert errors(registry, "kubernetes", "unavailable") == 3


async def test_a_dropped_watch_resumes_from_its_version(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api) as updates:
            await updates.next()
            await api.wait_watches(1)
            seen = api.version
            api.abort_watches()
            await trio.testing.wait_all_tasks_blocked()
            api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
            assert await updates.next() == Add([(ep("10.0.0.2"), READY)])
            assert trio.current_time() == 1.0
        assert api.watch_starts == [seen, seen]
        assert len(api.requests_of("list")) == 1


async def test_a_silent_watch_is_given_up_after_its_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api, metrics=metrics, timeout=5.0) as updates:
            await updates.next()
            await api.wait_watches(1)
            api.stall_watches()
            api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
            assert await updates.next() == Add([(ep("10.0.0.2"), READY)])
        seconds = int(api.requests_of("watch")[0].query["timeoutSeconds"])
        assert trio.current_time() == seconds + 5.0 + 1.0, "timeoutSeconds, the grace, a backoff"
        assert errors(registry, "kubernetes", "timeout") == 1


async def test_garbled_watch_lines_resume_from_the_last_good_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api, metrics=metrics) as updates:
            await updates.next()
            await api.wait_watches(1)
            good = api.version
            api.send_raw(b'{"type": "ADDED"}')  # no object
            await api.wait_watches(2)
            api.send_raw(b"{not json")
            await api.wait_watches(3)
            api.send_raw(b"")  # a blank line: nothing
            surprise = {"type": "SURPRISE", "object": {"metadata": {"resourceVersion": good}}}
            api.send_raw(json.dumps(surprise).encode())
            api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
            assert await updates.next() == Add([(ep("10.0.0.2"), READY)])
        assert api.watch_starts == [good, good, good]
        assert errors(registry, "kubernetes", "invalid") == 2
        assert errors(registry, "kubernetes", "bad_record") == 1, "the unknown event type"


# -- 4. the union of slices, one endpoint per (address, port) -------------------------


async def test_an_endpoint_in_two_slices_counts_once_and_stays_until_both_drop_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        api.put_slice(
            "users-b", service="users", endpoints=[endpoint("10.0.0.1"), endpoint("10.0.0.2")]
        )
        async with watching(api) as updates:
            assert await updates.next() == Reset([(ep("10.0.0.1"), READY), (ep("10.0.0.2"), READY)])
            api.delete_slice("users-a")
            await updates.none_within(1.0)
            api.delete_slice("users-b")
            assert await updates.next() == Remove([ep("10.0.0.1"), ep("10.0.0.2")])


async def test_of_two_copies_the_ready_then_the_running_one_wins(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The IP of a terminating pod reused by a new one, in another slice.
    old = endpoint("10.0.0.1", ready=False, serving=True, terminating=True, pod="old")
    new = endpoint("10.0.0.1", ready=True, pod="new")
    pod = {"kind": "Pod", "namespace": "default"}
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[old])
        api.put_slice("users-b", service="users", endpoints=[new])
        async with watching(api) as updates:
            assert await updates.next() == Reset(
                [(ep("10.0.0.1"), Meta(READY, target_ref={**pod, "name": "new"}))]
            )
            api.delete_slice("users-b")
            assert await updates.next() == Add(
                [(ep("10.0.0.1"), Meta(TERMINATING, target_ref={**pod, "name": "old"}))]
            ), "alone, the terminating copy is the fallback"


async def test_each_slice_gives_its_own_number_for_the_port(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A named targetPort resolves per pod: pods with other numbers go to other slices.
    async with fake() as api:
        api.put_service("users", [service_port("http", 80, "web")])
        api.put_slice(
            "users-a",
            service="users",
            endpoints=[endpoint("10.0.0.1")],
            ports=[slice_port("http", 8080)],
        )
        api.put_slice(
            "users-b",
            service="users",
            endpoints=[endpoint("10.0.0.1")],
            ports=[slice_port("http", 9090)],
        )
        async with watching(api, port=80) as updates:
            assert await updates.next() == Reset(
                [(ep("10.0.0.1", 8080), READY), (ep("10.0.0.1", 9090), READY)]
            )


# -- 5. ports: by name, by number, the only one ----------------------------------------


def two_ports(api: FakeKubernetes) -> None:
    api.put_service("users", [service_port("http", 80, 8080), service_port("metrics", 9100)])
    api.put_slice(
        "users-a",
        service="users",
        endpoints=[endpoint("10.0.0.1")],
        ports=[slice_port("http", 8080), slice_port("metrics", 9100)],
    )


@pytest.mark.parametrize(
    ("port", "number"), [("http", 8080), ("metrics", 9100), (80, 8080), (9100, 9100)]
)
async def test_a_port_by_name_or_by_the_service_s_number(
    autojump_clock: trio.testing.MockClock, port: str | int, number: int
) -> None:
    async with fake() as api:
        two_ports(api)
        async with watching(api, port=port) as updates:
            assert await updates.next() == Reset([(ep("10.0.0.1", number), READY)])


async def test_the_only_port_may_be_unnamed(autojump_clock: trio.testing.MockClock) -> None:
    async with fake() as api:
        api.put_service("users", [service_port("", 80, 8080)])
        api.put_slice(
            "users-a",
            service="users",
            endpoints=[endpoint("10.0.0.1")],
            ports=[slice_port("", 8080)],
        )
        async with watching(api) as updates:
            assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])


@pytest.mark.parametrize(
    ("port", "complaint"),
    [
        (
            None,
            "the Service has 2 ports: 'http' (80/TCP -> 8080), 'metrics' (9100/TCP); pass port=",
        ),
        ("htp", "no port named 'htp'; its ports: 'http' (80/TCP -> 8080), 'metrics' (9100/TCP)"),
        (8080, "no port numbered 8080; its ports: 'http' (80/TCP -> 8080)"),
    ],
)
async def test_a_port_that_cannot_be_chosen_names_the_choices(
    autojump_clock: trio.testing.MockClock, port: str | int | None, complaint: str
) -> None:
    registry, metrics = new_metrics()
    async with fake() as api:
        two_ports(api)
        with watch_log(LOGGER, complaint) as complained:
            async with watching(api, port=port, metrics=metrics) as updates:
                assert await updates.next() == Reset([]), "no port, no endpoints"
                api.close_watches()
                await api.wait_watches(2)
                await updates.none_within(1.0)
        assert complained.seen == 1, "said once, not at every look at the Service"
        assert errors(registry, "kubernetes", "invalid") == 1


async def test_a_port_chosen_once_stays_when_the_service_gains_another(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        with watch_log(LOGGER, "keeping port 'http', chosen before") as kept:
            async with watching(api) as updates:
                assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])
                two_ports(api)  # the controller rewrites the slice with both ports
                await kept.wait_for(1)
                api.put_slice(
                    "users-b",
                    service="users",
                    endpoints=[endpoint("10.0.0.2")],
                    ports=[slice_port("http", 8080), slice_port("metrics", 9100)],
                )
                assert await updates.next() == Add([(ep("10.0.0.2"), READY)])


async def test_a_port_that_appears_later_is_picked_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api, port="metrics") as updates:
            assert await updates.next() == Reset([])
            two_ports(api)  # the new port reaches the slices: the source looks again
            assert await updates.next() == Add([(ep("10.0.0.1", 9100), READY)])


# -- 6. conditions, address types ------------------------------------------------------


async def test_ready_or_unset_endpoints_count_and_serving_terminating_ones_are_the_fallback(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        api.put_slice(
            "users-a",
            service="users",
            endpoints=[
                endpoint("10.0.0.1", ready=True),
                endpoint("10.0.0.2", ready=None),  # nil is ready
                endpoint("10.0.0.3", ready=False),
                endpoint("10.0.0.4", ready=False, serving=True, terminating=True),
            ],
        )
        async with watching(api) as updates:
            assert await updates.next() == Reset([(ep("10.0.0.1"), READY), (ep("10.0.0.2"), READY)])
            # A rolling update: the old pods terminate before the new ones are ready.
            api.put_slice(
                "users-a",
                service="users",
                endpoints=[
                    endpoint("10.0.0.1", ready=False, serving=True, terminating=True),
                    endpoint("10.0.0.2", ready=False, serving=False, terminating=True),
                    endpoint("10.0.0.3", ready=False),
                    endpoint("10.0.0.4", ready=False, terminating=True),  # serving: as ready
                    endpoint("10.0.0.5", ready=False, serving=True, terminating=False),
                ],
            )
            assert updates.state != {}
            await updates.until({ep("10.0.0.1"): TERMINATING})
            api.put_slice(
                "users-a",
                service="users",
                endpoints=[
                    endpoint("10.0.0.1", ready=False, serving=True, terminating=True),
                    endpoint("10.0.0.6", ready=True),
                ],
            )
            assert await updates.next() == Add([(ep("10.0.0.6"), READY)])
            assert await updates.next() == Remove([ep("10.0.0.1")]), "a ready one is back"


async def test_ipv6_slices_beside_ipv4_ones_and_fqdn_slices_skipped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    async with fake() as api:
        api.put_slice(
            "users-a",
            service="users",
            endpoints=[endpoint("10.0.0.1", extra_addresses=("10.0.0.9",))],
        )
        api.put_slice(
            "users-b",
            service="users",
            address_type="IPv6",
            endpoints=[endpoint("fd00:0:0::0001"), endpoint("fd00::1")],
        )
        api.put_slice(
            "users-c",
            service="users",
            address_type="FQDN",
            endpoints=[endpoint("users.example.com")],
        )
        with watch_log(LOGGER, "FQDNs, which this source does not resolve") as fqdn:
            async with watching(api, metrics=metrics) as updates:
                assert await updates.next() == Reset(
                    [(ep("10.0.0.1"), READY), (ep("fd00::1"), READY)]
                ), "the first address of each endpoint, IPv6 in its canonical form"
                api.expire_watches()  # a relist reads the FQDN slice again
                await api.wait_watches(2)
                await updates.none_within(1.0)
        assert fqdn.seen == 1
        assert errors(registry, "kubernetes", "bad_record") == 1


# -- 7. zones: Kubernetes' rule for topology hints -------------------------------------


@pytest.mark.parametrize(
    ("hints", "zone", "chosen"),
    [
        ({"1": ["a"], "2": ["b"], "3": ["a", "b"]}, "a", "13"),
        ({"1": ["a"], "2": ["b"], "3": ["a", "b"]}, "b", "23"),
        ({"1": ["a"], "2": ["b"], "3": None}, "a", "123"),  # one without hints: all
        ({"1": ["a"], "2": ["b"], "3": ["b"]}, "c", "123"),  # none for this zone: all
        ({"1": ["a"], "2": ["b"], "3": ["a"]}, None, "123"),  # no zone given: all
    ],
)
async def test_zone_hints_are_followed_only_when_all_have_some_and_one_matches(
    autojump_clock: trio.testing.MockClock,
    hints: dict[str, list[str] | None],
    zone: str | None,
    chosen: str,
) -> None:
    async with fake() as api:
        endpoints = [endpoint(f"10.0.0.{n}", hints=h) for n, h in hints.items()]
        # Not ready, without hints: it neither counts nor spoils the rule.
        endpoints.append(endpoint("10.0.0.4", ready=False))
        api.put_slice("users-a", service="users", endpoints=endpoints)
        async with watching(api, zone=zone) as updates:
            assert await updates.next() == Reset([(ep(f"10.0.0.{n}"), READY) for n in chosen])


# -- 8. credentials: in cluster, rotated tokens, 401 and 403, kubectl proxy -----------


@pytest.fixture
def service_account(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    """A token file holding ``t1`` and the CA file, as a pod has them."""
    token, ca_file = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("t1\n")
    ca.cert_pem.write_to_path(str(ca_file))
    return token, ca_file


async def test_in_cluster_over_tls_with_the_service_account(
    autojump_clock: trio.testing.MockClock,
    ca: trustme.CA,
    service_account: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token, ca_file = service_account
    certificate = ca.issue_cert("127.0.0.1")
    async with fake(tokens={"t1"}, certificate=certificate) as api:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(api.port))
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        discovery = source(api, url=None, token_file=token, ca_file=ca_file)
        assert discovery.api_url == f"https://127.0.0.1:{api.port}"
        async with collect(discovery, patience=PATIENCE) as updates:
            assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])
            await api.wait_watches(1)
            # Rotation: kubelet writes a new token; the old one is revoked later.
            token.write_text("t2")
            api.tokens = {"t2"}
            api.bookmark()  # a watch that ends without any event is a failure
            api.close_watches()
            await api.wait_watches(2)
            api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
            assert await updates.next() == Add([(ep("10.0.0.2"), READY)])
        assert {s.authorization for s in api.requests[:3]} == {"Bearer t1"}
        assert {s.authorization for s in api.requests[3:]} == {"Bearer t2"}
        assert trio.current_time() == 0, "no request was refused"


async def test_the_service_account_paths_are_the_defaults_in_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    discovery = EndpointSliceDiscovery("users")
    assert discovery.api_url == "https://10.96.0.1:443"
    assert discovery.token_path == Path(SERVICE_ACCOUNT_TOKEN)
    assert discovery.ca_path == Path(SERVICE_ACCOUNT_CA)
    outside = EndpointSliceDiscovery("users", url="http://127.0.0.1:8001/")
    assert outside.api_url == "http://127.0.0.1:8001"
    assert outside.token_path is None, "kubectl proxy adds the credentials"
    assert outside.ca_path is None
    assert in_cluster_url(
        {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    ) == ("https://[fd00::1]:6443")
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT")
    with pytest.raises(ValueError, match=r"url=None means in cluster.*kubectl proxy"):
        EndpointSliceDiscovery("users")


async def test_a_refused_token_is_retried_at_once_when_the_file_holds_a_new_one(
    autojump_clock: trio.testing.MockClock, service_account: tuple[Path, Path]
) -> None:
    registry, metrics = new_metrics()
    token, _ = service_account
    async with fake(tokens={"t2"}, on_unauthorized=lambda: token.write_text("t2")) as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api, token_file=token, metrics=metrics) as updates:
            assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])
        assert [s.authorization for s in api.requests[:2]] == ["Bearer t1", "Bearer t2"]
        assert trio.current_time() == 0
        assert errors(registry, "kubernetes", "unauthorized") == 0


async def test_a_refused_token_backs_off_until_the_file_changes(
    autojump_clock: trio.testing.MockClock, service_account: tuple[Path, Path]
) -> None:
    registry, metrics = new_metrics()
    token, _ = service_account
    async with fake(tokens={"t2"}) as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        with watch_log(LOGGER, "the credentials were refused") as refused:
            async with watching(api, token_file=token, metrics=metrics) as updates:
                await refused.wait_for(3)
                token.write_text("t2")
                assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])
        assert refused.times == [0, 1, 3]
        assert trio.current_time() == 7
        assert errors(registry, "kubernetes", "unauthorized") == 3


async def test_a_missing_token_file_and_a_forbidden_resource_are_reported_and_retried(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    registry, metrics = new_metrics()
    token = tmp_path / "token"
    async with fake(tokens={"t1"}, denied={"list endpointslices"}) as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        with (
            watch_log(LOGGER, "cannot read the token file") as unreadable,
            watch_log(LOGGER, "needs list on endpointslices in namespace default") as forbidden,
        ):
            async with watching(api, token_file=token, metrics=metrics) as updates:
                await unreadable.wait_for(1)
                token.write_text("t1")
                await forbidden.wait_for(2)
                api.denied.clear()
                assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])
        assert errors(registry, "kubernetes", "unauthorized") == 3


async def test_through_kubectl_proxy_no_credentials_are_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api, url=f"http://127.0.0.1:{api.port}") as updates:
            assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])
        assert {s.authorization for s in api.requests} == {None}


async def test_a_server_certificate_from_another_ca_is_refused(
    autojump_clock: trio.testing.MockClock, service_account: tuple[Path, Path]
) -> None:
    registry, metrics = new_metrics()
    _, ca_file = service_account
    async with fake(certificate=trustme.CA().issue_cert("127.0.0.1")) as api:
        with watch_log(LOGGER, "CERTIFICATE_VERIFY_FAILED") as refused:
            async with watching(api, ca_file=ca_file, metrics=metrics) as updates:
                await refused.wait_for(2)
                assert updates.drain() == []
        assert api.requests == [], "no request went over the untrusted connection"
        assert errors(registry, "kubernetes", "unavailable") >= 2


async def test_an_unreadable_ca_file_is_reported_and_retried(
    autojump_clock: trio.testing.MockClock, ca: trustme.CA, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.crt"
    async with fake(certificate=ca.issue_cert("127.0.0.1")) as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        with watch_log(LOGGER, "cannot load the CA file") as unreadable:
            async with watching(api, ca_file=ca_file) as updates:
                await unreadable.wait_for(2)
                ca.cert_pem.write_to_path(str(ca_file))
                assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])
        assert unreadable.times == [0, 1]


# -- 9. a missing Service ------------------------------------------------------------------


async def test_a_missing_service_does_not_exist_until_it_is_created(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_fake_kubernetes() as api:
        # Slices left behind, not yet collected: without the Service they mean nothing.
        api.put_slice("users-old", service="users", endpoints=[endpoint("10.0.0.9")])
        async with watching(api) as updates:
            assert await updates.next() == DoesNotExist()
            api.put_service("users")
            api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
            assert await updates.next() == Reset([(ep("10.0.0.1"), READY), (ep("10.0.0.9"), READY)])


async def test_a_service_without_slices_is_empty_and_one_created_quietly_is_seen_at_the_next_watch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_fake_kubernetes() as api:
        async with watching(api) as updates:
            assert await updates.next() == DoesNotExist()
            api.put_service("users")  # no selector, say: no slice says it exists
            assert await updates.next() == Reset([])
        seconds = int(api.requests_of("watch")[0].query["timeoutSeconds"])
        assert trio.current_time() == seconds, "when the first watch ended"


@pytest.mark.parametrize("foreground", [False, True], ids=["background", "foreground"])
async def test_a_deleted_service_does_not_exist(
    autojump_clock: trio.testing.MockClock, foreground: bool
) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
        async with watching(api) as updates:
            await updates.next()
            api.delete_service("users", foreground=foreground)
            received = await updates.until({})
            assert received[-1] == DoesNotExist(), "while the Service is still being deleted"
            if foreground:
                api.finish_deletion("users")
            api.put_service("users")
            api.put_slice("users-c", service="users", endpoints=[endpoint("10.0.0.3")])
            assert await updates.next() == Reset([(ep("10.0.0.3"), READY)])


async def test_a_404_from_something_else_than_an_api_server_is_not_a_missing_service(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    async with open_backends(Backend("not-kubernetes", status=404)) as (backend,):
        discovery = EndpointSliceDiscovery(
            "users", url=f"http://127.0.0.1:{backend.port}", backoff=NO_JITTER, metrics=metrics
        )
        with watch_log(LOGGER, "does not speak the Kubernetes API") as wrong:
            async with collect(discovery, patience=PATIENCE) as updates:
                await wrong.wait_for(2)
                assert updates.drain() == [], "no DoesNotExist"
        assert errors(registry, "kubernetes", "unavailable") == 2


# -- 10. bad records ---------------------------------------------------------------------


async def test_malformed_slices_and_endpoints_are_skipped_and_a_slice_keeps_its_last_good_version(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    labels = {"kubernetes.io/service-name": "users"}
    async with fake() as api:
        api.put_slice(
            "users-a",
            service="users",
            endpoints=[
                endpoint("10.0.0.1"),
                {"addresses": []},
                endpoint("not-an-ip"),
                endpoint("fd00::1"),  # IPv6 in an IPv4 slice
                {"addresses": ["10.0.0.5"], "conditions": {"ready": "yes"}},
                {"addresses": ["10.0.0.6"], "hints": {"forZones": ["a"]}},
                "10.0.0.7",
            ],
            ports=[slice_port("http", 8080), slice_port("all", None), {"name": 3}],
        )
        api.put_object({"metadata": {"name": "users-b", "labels": labels}, "addressType": "Bogus"})
        with watch_log(LOGGER, "skipping the record") as skipped:
            async with watching(api, metrics=metrics) as updates:
                assert await updates.next() == Reset([(ep("10.0.0.1"), READY)])
                assert skipped.seen == 9
                api.put_object({"metadata": {"name": "users-a", "labels": labels}, "endpoints": 5})
                await skipped.wait_for(10)
                assert "its last good version stays" in skipped.last
                api.expire_watches()  # a relist: still bad, still its last good version
                await skipped.wait_for(12)
                api.put_slice("users-c", service="users", endpoints=[endpoint("10.0.0.3")])
                assert await updates.next() == Add([(ep("10.0.0.3"), READY)])
                assert ep("10.0.0.1") in updates.state
        assert errors(registry, "kubernetes", "bad_record") == 12


async def test_a_slice_relabelled_away_from_the_service_leaves_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
        async with watching(api) as updates:
            await updates.next()
            moved = copy.deepcopy(api.slices()["users-b"])
            moved["metadata"]["labels"]["kubernetes.io/service-name"] = "other"
            api.put_object(moved)  # the watch sees it DELETED
            assert await updates.next() == Remove([ep("10.0.0.2")])


def test_arguments_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://127.0.0.1:8001"
    with pytest.raises(ValueError, match="a DNS-1035 label"):
        EndpointSliceDiscovery("Users", url=url)
    with pytest.raises(ValueError, match="a DNS-1035 label"):
        EndpointSliceDiscovery("users/../x", url=url)
    with pytest.raises(TypeError, match="service must be a str"):
        EndpointSliceDiscovery(b"users", url=url)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="namespace must be a namespace name"):
        EndpointSliceDiscovery("users", namespace="Shop", url=url)
    with pytest.raises(ValueError, match=r"port '80' is a number: pass it as an int, port=80"):
        EndpointSliceDiscovery("users", port="80", url=url)
    with pytest.raises(ValueError, match="port must be from 1 to 65535"):
        EndpointSliceDiscovery("users", port=0, url=url)
    with pytest.raises(TypeError, match="port must be a str"):
        EndpointSliceDiscovery("users", port=True, url=url)
    with pytest.raises(ValueError, match="url must be an http"):
        EndpointSliceDiscovery("users", url="127.0.0.1:8001")
    with pytest.raises(ValueError, match="zone must be a zone name"):
        EndpointSliceDiscovery("users", zone="", url=url)
    with pytest.raises(ValueError, match="page_size must be >= 1"):
        EndpointSliceDiscovery("users", page_size=0, url=url)
    with pytest.raises(ValueError, match="watch_timeout must be a finite number > 0"):
        EndpointSliceDiscovery("users", watch_timeout=0, url=url)
    with pytest.raises(TypeError, match="expected a path or None"):
        EndpointSliceDiscovery("users", token_file=3, url=url)  # type: ignore[arg-type]
    discovery = EndpointSliceDiscovery("users", url=url, token_file="/tmp/token")
    assert discovery.token_path == Path("/tmp/token")
    assert discovery == EndpointSliceDiscovery("users", url=url, token_file=Path("/tmp/token"))


async def test_updates_and_endpoints_are_counted(autojump_clock: trio.testing.MockClock) -> None:
    registry, metrics = new_metrics()
    async with fake() as api:
        api.put_slice("users-a", service="users", endpoints=[endpoint("10.0.0.1")])
        async with watching(api, metrics=metrics) as updates:
            await updates.next()
            api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
            await updates.next()
            api.delete_service("users")
            await updates.until({})
        assert updates_counted(registry, "kubernetes", "reset") == 1
        assert updates_counted(registry, "kubernetes", "add") == 1
        assert updates_counted(registry, "kubernetes", "does_not_exist") == 1
        gauge = registry.get_sample_value("trio_pool_discovery_endpoints", {"source": "kubernetes"})
        assert gauge == 0


# -- 11. a property: random changes and faults, against a model ------------------------

SLICE_NAMES = ("users-a", "users-b", "users-c")
ADDRESSES = {"IPv4": ("10.0.0.1", "10.0.0.2", "10.0.0.3"), "IPv6": ("fd00::1", "fd00::2")}
FAULTS = ("abort", "close", "expire", "compact", "bookmark", "empty", "stall", "flip")
UNSET = object()
View = dict[tuple[str, int], Meta] | None
"""What the pool holds: the endpoints, or ``None`` when the Service does not exist."""


@st.composite
def slice_specs(draw: st.DrawFn) -> dict[str, Any]:
    """What `FakeKubernetes.put_slice` takes: endpoints of every condition, hints, ports."""
    address_type = draw(st.sampled_from(["IPv4", "IPv4", "IPv6"]))
    ips = draw(st.lists(st.sampled_from(ADDRESSES[address_type]), unique=True, max_size=3))
    maybe = st.sampled_from([True, False, None])
    endpoints = [
        endpoint(
            ip,
            ready=draw(maybe),
            serving=draw(maybe),
            terminating=draw(maybe),
            zone=draw(st.sampled_from([None, "a", "b"])),
            hints=draw(st.sampled_from([None, ["a"], ["b"], ["a", "b"]])),
        )
        for ip in ips
    ]
    ports = draw(
        st.sampled_from(
            [
                [slice_port("http", 8080)],
                [slice_port("http", 8081)],
                [slice_port("http", 8080), slice_port("metrics", 9100)],
                [],
            ]
        )
    )
    return {"address_type": address_type, "endpoints": endpoints, "ports": ports}


operations = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(SLICE_NAMES), slice_specs()),
    st.tuples(st.just("delete"), st.sampled_from(SLICE_NAMES)),
    st.tuples(st.sampled_from(FAULTS)),
    st.tuples(st.sampled_from(["delete_service", "create_service"])),
    st.tuples(
        st.just("fail"),
        st.sampled_from(["get", "list", "continue", "watch"]),
        st.sampled_from([410, 429, 500, 503]),
    ),
)


def model(service: bool, slices: dict[str, dict[str, Any]], zone: str | None) -> View:
    """What the Service's slices mean, restated from the API reference and kube-proxy."""
    if not service:
        return None
    best: dict[tuple[str, int], tuple[tuple[bool, bool], Obj]] = {}
    for name in sorted(slices):
        spec = slices[name]
        number = next((p["port"] for p in spec["ports"] if p["name"] == "http"), None)
        if number is None:
            continue
        for raw in spec["endpoints"]:
            conditions = raw["conditions"]
            ready = conditions.get("ready", True)
            serving = conditions.get("serving", ready)
            terminating = conditions.get("terminating", False)
            info = {"ready": ready, "serving": serving, "terminating": terminating}
            if "zone" in raw:
                info["zone"] = raw["zone"]
            info["hints"] = {z["name"] for z in raw.get("hints", {}).get("forZones", [])}
            address = (raw["addresses"][0], number)
            rank = (ready, not terminating)
            if address not in best or rank > best[address][0]:
                best[address] = (rank, info)
    infos = {address: info for address, (_, info) in best.items()}
    ready_ones = {a: i for a, i in infos.items() if i["ready"]}
    if not ready_ones:
        chosen = {a: i for a, i in infos.items() if i["serving"] and i["terminating"]}
    elif all(i["hints"] for i in ready_ones.values()) and any(
        zone in i["hints"] for i in ready_ones.values()
    ):
        chosen = {a: i for a, i in ready_ones.items() if zone in i["hints"]}
    else:
        chosen = ready_ones
    return {
        address: Meta({k: v for k, v in info.items() if k != "hints"})
        for address, info in chosen.items()
    }


@attrs.define
class Membership:
    """What the source reported, with `DoesNotExist` told apart from an empty set."""

    view: View | object = UNSET

    def apply(self, update: Update) -> None:
        """Apply ``update``, which must change something."""
        if isinstance(update, DoesNotExist):
            assert self.view is not None, "DoesNotExist twice"
            self.view = None
            return
        if isinstance(update, Reset):
            new = dict(update.endpoints)
            assert self.view != new, f"a Reset that changes nothing: {update!r}"
            self.view = new
            return
        assert isinstance(self.view, dict), f"{update!r} before any Reset"
        if isinstance(update, Add):
            for address, target in update.endpoints:
                assert self.view.get(address) != target, f"{update!r} re-adds {address}"
                self.view[address] = target
        else:
            assert isinstance(update, Remove)
            for address in update.addresses:
                assert self.view.pop(address, None) is not None, f"{update!r}: {address}?"


async def settle(updates: Updates, seen: Membership, allowed: list[View], final: View) -> None:
    """Receive updates until the pool holds ``final``; whenever the source is idle, what
    it reported must be one of the ``allowed`` states."""
    with trio.fail_after(PATIENCE):
        while True:
            await trio.testing.wait_all_tasks_blocked()
            for update in updates.drain():
                seen.apply(update)
            assert seen.view in allowed, f"{seen.view} is not one of {allowed}"
            if seen.view == final:
                return
            seen.apply(await updates.next())


# Each example runs a server and a source through a dozen steps: a fifth of the
# profile's examples (100 in CI, 2,000 with the "long" profile).
@settings(max_examples=max(10, settings().max_examples // 5))
@given(
    st.lists(operations, max_size=12),
    st.integers(1, 3),
    st.sampled_from([None, "a"]),
    st.integers(0, 2**32),
)
def test_random_changes_and_faults_keep_the_pool_equal_to_the_model(
    steps: list[tuple[Any, ...]], page_size: int, zone: str | None, seed: int
) -> None:
    # A seeded Random: the source draws from it for as long as it runs, which would
    # overrun a Hypothesis-drawn one.
    rng = random.Random(seed)

    async def main() -> None:
        service = True
        slices: dict[str, dict[str, Any]] = {}
        # The states since the source was last seen caught up. The Service and its
        # slices are read apart (as kube-proxy reads them), so the source may combine
        # the Service of one moment with the slices of another, for a while.
        services: list[bool] = [service]
        slice_states: list[dict[str, dict[str, Any]]] = [{}]
        async with fake() as api:
            discovery = source(api, page_size=page_size, zone=zone, rng=rng)
            async with collect(discovery, patience=PATIENCE) as updates:
                seen = Membership()
                await settle(
                    updates, seen, [model(service, slices, zone)], model(service, slices, zone)
                )
                for step in steps:
                    kind = step[0]
                    if kind == "put":
                        _, name, spec = step
                        api.put_slice(name, service="users", **spec)
                        slices[name] = spec
                    elif kind == "delete" and step[1] in slices:
                        api.delete_slice(step[1])
                        del slices[step[1]]
                    elif kind == "delete_service" and service:
                        api.delete_service("users")
                        # The slices go one by one after it.
                        for name in sorted(slices):
                            del slices[name]
                            slice_states.append(dict(slices))
                        service = False
                    elif kind == "create_service" and not service:
                        api.put_service("users")
                        service = True
                    elif kind == "fail":
                        api.fail_next(step[1], step[2])
                    elif kind == "abort":
                        api.abort_watches()
                    elif kind == "close":
                        api.close_watches()
                    elif kind == "expire":
                        api.expire_watches()
                    elif kind == "compact":
                        api.compact()
                        api.abort_watches()
                    elif kind == "bookmark":
                        api.bookmark()
                    elif kind == "empty":
                        api.empty_watches += 1
                    elif kind == "stall":
                        api.stall_watches()
                    elif kind == "flip":
                        api.expired_as_status = not api.expired_as_status
                    services.append(service)
                    slice_states.append(dict(slices))
                    allowed = [model(a, b, zone) for a in set(services) for b in slice_states]
                    await settle(updates, seen, allowed, model(service, slices, zone))
                    await trio.testing.wait_all_tasks_blocked()
                    if api.delivered:
                        services, slice_states = [service], [dict(slices)]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- the user's path: the balanced httpx transport over a Service ----------------------


async def test_the_balanced_transport_follows_the_service() -> None:
    # Two backends on one host, at two target ports: one slice each, as the
    # controller writes them when pods resolve a named port to different numbers.
    async with (
        open_backends(Backend("a"), Backend("b")) as (a, b),
        fake() as api,
    ):
        api.put_service("users", [service_port("http", 80, "web")])
        for backend in (a, b):
            api.put_slice(
                f"users-{backend.name}",
                service="users",
                endpoints=[endpoint("127.0.0.1")],
                ports=[slice_port("http", backend.port)],
            )
        discovery = source(api, port="http", backoff=Backoff(initial=0.01, maximum=0.1))
        removed = trio.Event()

        async def applied() -> AsyncIterator[Update]:
            # The queue asks for the next update once it applied this one.
            async with aclosing(aiter(discovery)) as updates:
                async for update in updates:
                    yield update
                    if isinstance(update, Remove):
                        removed.set()

        async with (
            open_balanced_transport({"users.test:80": applied()}) as transport,
            httpx.AsyncClient(transport=transport) as client,
        ):
            with trio.fail_after(10):
                names = {(await client.get("http://users.test/")).text for _ in range(20)}
                assert names == {"a", "b"}
                api.delete_slice("users-b")
                await removed.wait()
                before = b.requests
                for _ in range(10):
                    assert (await client.get("http://users.test/")).text == "a"
                assert b.requests == before, "b left the pool with its slice"
                assert {seen.host for seen in a.seen} == {"users.test"}
