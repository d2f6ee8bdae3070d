"""`EndpointSliceDiscovery` against a fake Kubernetes API server on 127.0.0.1.

The fake (tests/support/fake_kubernetes.py) speaks real HTTP, and TLS where a test
gives it a certificate; it lives in the test's Trio run, so these tests drive the
source, the server and its watch timeouts on one mock clock. The sections follow the
behaviours the source promises: list, watch, 410 and backoff, the union of slices,
ports, conditions, zones, credentials, a missing Service, bad records; a property test
drives random sequences of changes and faults against a model.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from trio_pool import Add, Backoff, Remove, Reset
from trio_pool.discovery import EndpointSliceDiscovery, Meta

from ..discovery_helpers import Updates, collect, errors, new_metrics, updates_counted, watch_log
from ..support.fake_kubernetes import (
    FakeKubernetes,
    Seen,
    endpoint,
    open_fake_kubernetes,
)

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
            watcher = api._watchers[0]
            watcher.send.send_nowait({"type": "ADDED"})  # no object
            await api.wait_watches(2)
            api._watchers[0].send.send_nowait(
                {"type": "SURPRISE", "object": {"metadata": {"resourceVersion": good}}}
            )
            api.put_slice("users-b", service="users", endpoints=[endpoint("10.0.0.2")])
            assert await updates.next() == Add([(ep("10.0.0.2"), READY)])
        assert api.watch_starts == [good, good]
        assert errors(registry, "kubernetes", "invalid") == 1
        assert errors(registry, "kubernetes", "bad_record") == 1, "the unknown event type"
