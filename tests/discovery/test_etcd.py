"""`EtcdDiscovery`: list then watch; on a mock clock against an in-memory gateway, then
against a real etcd."""

from __future__ import annotations

import base64
import json
import math
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from trio_pool import Add, Backoff, Remove, Reset
from trio_pool.discovery import EtcdDiscovery, Meta
from trio_pool.discovery._etcd import prefix_range_end

from ..support.discovery import (
    collect,
    errors,
    is_valid,
    json_values,
    near_records,
    new_metrics,
    watch_log,
)
from ..support.servers import Etcd, EtcdClient, TcpProxy

LOGGER = "trio_pool.discovery.etcd"
NO_JITTER = Backoff(initial=1.0, maximum=4.0, multiplier=2.0, jitter=0.0)
MOCK_PATIENCE = 10_000.0


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def value(host: str, port: int = 80, **meta: Any) -> bytes:
    record: dict[str, Any] = {"host": host, "port": port}
    if meta:
        record["meta"] = meta
    return json.dumps(record).encode()


class _Body(httpx.AsyncByteStream):
    """A watch response body: the lines the fake gateway sends, until it ends them."""

    def __init__(self, receive: trio.MemoryReceiveChannel[bytes]) -> None:
        self._receive = receive

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for line in self._receive:
            yield line

    async def aclose(self) -> None:
        await self._receive.aclose()


@attrs.define(eq=False)
class FakeGateway:
    """etcd's JSON gateway (range and watch) over an in-memory history of one prefix."""

    revision: int = 1
    cluster_id: str = "7"
    compacted: int = 0
    values: dict[bytes, bytes] = attrs.field(factory=dict)
    history: list[tuple[int, bytes, bytes | None]] = attrs.field(factory=list)
    failure: Exception | None = None
    watch_starts: list[int] = attrs.field(factory=list)
    _watches: list[trio.MemorySendChannel[bytes]] = attrs.field(factory=list)
    _watched: trio.Event = attrs.field(factory=trio.Event)

    async def wait_watches(self, count: int) -> None:
        """Return once ``count`` watches were created in all."""
        while len(self.watch_starts) < count:
            await self._watched.wait()

    def source(self, **options: Any) -> EtcdDiscovery:
        options.setdefault("backoff", NO_JITTER)
        return EtcdDiscovery(
            "/svc/",
            url="http://etcd.test:2379",
            transport=httpx.MockTransport(self.handle),
            **options,
        )

    def put(self, key: str, data: bytes) -> None:
        self._change(key.encode(), data)

    def delete(self, key: str) -> None:
        self._change(key.encode(), None)

    def _change(self, key: bytes, data: bytes | None) -> None:
        self.revision += 1
        if data is None:
            self.values.pop(key, None)
        else:
            self.values[key] = data
        self.history.append((self.revision, key, data))
        line = self._line({"events": [self._event(self.history[-1])]})
        for watch in list(self._watches):
            try:
                watch.send_nowait(line)
            except trio.BrokenResourceError:  # the client went away
                self._watches.remove(watch)

    def compact(self) -> None:
        self.compacted = self.revision

    def drop_watches(self) -> None:
        for watch in self._watches:
            watch.close()
        self._watches.clear()

    def _header(self) -> dict[str, Any]:
        return {"cluster_id": self.cluster_id, "revision": str(self.revision)}

    def _line(self, result: dict[str, Any]) -> bytes:
        return json.dumps({"result": {"header": self._header(), **result}}).encode() + b"\n"

    def _event(self, change: tuple[int, bytes, bytes | None]) -> dict[str, Any]:
        revision, key, data = change
        kv: dict[str, Any] = {"key": b64(key), "mod_revision": str(revision)}
        if data is None:
            return {"type": "DELETE", "kv": kv}
        return {"kv": {**kv, "value": b64(data)}}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await trio.lowlevel.checkpoint()
        if self.failure is not None:
            raise self.failure
        body = json.loads(request.content) if request.method == "POST" else {}
        if request.url.path == "/v3/kv/range":
            assert unb64(body["range_end"]) == prefix_range_end(unb64(body["key"]))
            kvs = [{"key": b64(k), "value": b64(v)} for k, v in sorted(self.values.items())]
            return httpx.Response(200, json={"header": self._header(), "kvs": kvs})
        if request.url.path == "/v3/watch":
            start = int(body["create_request"]["start_revision"])
            self.watch_starts.append(start)
            send, receive = trio.open_memory_channel[bytes](math.inf)
            send.send_nowait(self._line({"created": True}))
            if start <= self.compacted:
                send.send_nowait(
                    self._line({"canceled": True, "compact_revision": str(self.compacted)})
                )
            else:
                for change in self.history:
                    if change[0] >= start:
                        send.send_nowait(self._line({"events": [self._event(change)]}))
            self._watches.append(send)
            self._watched.set()
            self._watched = trio.Event()
            return httpx.Response(200, stream=_Body(receive))
        return httpx.Response(404, text="not found")


# -- on a mock clock, against the in-memory gateway ----------------------------------


async def test_list_then_watch_from_the_next_revision(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gateway = FakeGateway()
    gateway.put("/svc/a", value("10.0.0.1"))
    gateway.put("/svc/b", value("10.0.0.2", zone="x"))
    async with collect(gateway.source(), patience=MOCK_PATIENCE) as updates:
        assert await updates.next() == Reset(
            [(("10.0.0.1", 80), Meta()), (("10.0.0.2", 80), Meta(zone="x"))]
        )
        gateway.put("/svc/c", value("10.0.0.3"))
        assert await updates.next() == Add([(("10.0.0.3", 80), Meta())])
        gateway.put("/svc/b", value("10.0.0.2", zone="y"))
        assert await updates.next() == Add([(("10.0.0.2", 80), Meta(zone="y"))])
        gateway.delete("/svc/a")
        assert await updates.next() == Remove([("10.0.0.1", 80)])
    assert gateway.watch_starts == [4], "the watch starts after the listed revision"


async def test_a_dropped_watch_resumes_where_it_was(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    gateway = FakeGateway()
    gateway.put("/svc/a", value("10.0.0.1"))
    with trio.fail_after(MOCK_PATIENCE), watch_log(LOGGER, "the watch ended") as ended:
        async with collect(gateway.source(metrics=metrics), patience=MOCK_PATIENCE) as updates:
            await updates.next()
            gateway.put("/svc/b", value("10.0.0.2"))
            await updates.next()
            gateway.drop_watches()
            await ended.wait_for(1)
            # Changes while no watch runs come with the next watch, as changes.
            gateway.put("/svc/c", value("10.0.0.3"))
            gateway.delete("/svc/a")
            assert await updates.next() == Add([(("10.0.0.3", 80), Meta())])
            assert await updates.next() == Remove([("10.0.0.1", 80)])
            assert trio.current_time() == 1.0, "after one backoff delay"
    assert gateway.watch_starts == [3, 4]
    assert errors(registry, "etcd", "unavailable") == 1


async def test_a_compacted_revision_lists_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    gateway = FakeGateway()
    gateway.put("/svc/a", value("10.0.0.1"))
    gateway.put("/svc/b", value("10.0.0.2"))
    with trio.fail_after(MOCK_PATIENCE), watch_log(LOGGER, "the watch ended") as ended:
        async with collect(gateway.source(metrics=metrics), patience=MOCK_PATIENCE) as updates:
            await updates.next()
            await gateway.wait_watches(1)
            gateway.drop_watches()
            await ended.wait_for(1)
            gateway.delete("/svc/a")
            gateway.put("/svc/c", value("10.0.0.3"))
            gateway.compact()
            assert await updates.next() == Reset(
                [(("10.0.0.2", 80), Meta()), (("10.0.0.3", 80), Meta())]
            )
            gateway.put("/svc/d", value("10.0.0.4"))
            assert await updates.next() == Add([(("10.0.0.4", 80), Meta())])
    assert gateway.watch_starts == [4, 4, 6], "resume, compacted, then after the new list"
    assert errors(registry, "etcd", "compacted") == 1


@pytest.mark.parametrize("change", ["cluster", "revision"])
async def test_a_rebuilt_server_lists_again(
    autojump_clock: trio.testing.MockClock, change: str
) -> None:
    gateway = FakeGateway()
    gateway.put("/svc/a", value("10.0.0.1"))
    gateway.put("/svc/b", value("10.0.0.2"))
    with trio.fail_after(MOCK_PATIENCE), watch_log(LOGGER, "the watch ended") as ended:
        async with collect(gateway.source(), patience=MOCK_PATIENCE) as updates:
            await updates.next()
            await gateway.wait_watches(1)
            gateway.drop_watches()
            await ended.wait_for(1)
            if change == "cluster":
                gateway.cluster_id = "8"
            else:
                gateway.revision = 1
            gateway.values = {b"/svc/z": value("10.0.0.9")}
            assert await updates.next() == Reset([(("10.0.0.9", 80), Meta())])


async def test_an_unreachable_server_is_retried_with_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    gateway = FakeGateway()
    gateway.put("/svc/a", value("10.0.0.1"))
    gateway.failure = httpx.ConnectError("connection refused")
    with trio.fail_after(MOCK_PATIENCE), watch_log(LOGGER, "connection refused") as refused:
        async with collect(gateway.source(metrics=metrics), patience=MOCK_PATIENCE) as updates:
            await refused.wait_for(5)
            gateway.failure = None
            assert await updates.next() == Reset([(("10.0.0.1", 80), Meta())])
    assert refused.times == [0, 1, 3, 7, 11], "backoff 1, 2, 4, capped at 4"
    assert trio.current_time() == 15
    assert errors(registry, "etcd", "unavailable") == 5


async def test_http_errors_and_garbled_responses_are_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    gateway = FakeGateway()
    gateway.put("/svc/a", value("10.0.0.1"))
    answers: dict[str, list[httpx.Response]] = {
        "/v3/kv/range": [
            httpx.Response(503, text="etcdserver: leader changed"),
            httpx.Response(200, text="<html>not etcd</html>"),
            httpx.Response(200, json={"kvs": []}),
        ],
        "/v3/watch": [
            httpx.Response(200, text="{not json\n"),
            httpx.Response(200, text='{"error": {"message": "permission denied"}}\n'),
        ],
    }

    async def handle(request: httpx.Request) -> httpx.Response:
        scripted = answers[request.url.path]
        if scripted:
            return scripted.pop(0)
        return await gateway.handle(request)

    source = EtcdDiscovery(
        "/svc/", transport=httpx.MockTransport(handle), backoff=NO_JITTER, metrics=metrics
    )
    with (
        trio.fail_after(MOCK_PATIENCE),
        watch_log(LOGGER, "keeping the last endpoints") as failures,
    ):
        async with collect(source, patience=MOCK_PATIENCE) as updates:
            # Three failed lists, a successful one, then two failed watches.
            assert await updates.next() == Reset([(("10.0.0.1", 80), Meta())])
            await failures.wait_for(5)
            gateway.put("/svc/b", value("10.0.0.2"))
            assert await updates.next() == Add([(("10.0.0.2", 80), Meta())])
    assert errors(registry, "etcd", "unavailable") == 2
    assert errors(registry, "etcd", "invalid") == 3


async def test_odd_watch_messages_are_survived(autojump_clock: trio.testing.MockClock) -> None:
    registry, metrics = new_metrics()
    gateway = FakeGateway(revision=20)
    gateway.put("/svc/a", value("10.0.0.1"))
    header = {"cluster_id": gateway.cluster_id, "revision": "21"}
    lines = [
        {"result": {"header": header, "created": True}},
        # A progress notification: nothing changed up to revision 30.
        {"result": {"header": {**header, "revision": "30"}}},
        {
            "result": {
                "header": header,
                "events": [
                    42,
                    {"kv": "x"},
                    {"type": "DELETE", "kv": {"key": "!!"}},
                    {"kv": {"key": b64(b"/svc/b"), "value": "%%%", "mod_revision": "31"}},
                ],
            }
        },
        {"result": {"header": header, "canceled": True, "cancel_reason": "permission denied"}},
    ]
    starts: list[int] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v3/watch" and not starts:
            starts.append(int(json.loads(request.content)["create_request"]["start_revision"]))
            return httpx.Response(200, text="".join(json.dumps(line) + "\n" for line in lines))
        return await gateway.handle(request)

    source = EtcdDiscovery(
        "/svc/", transport=httpx.MockTransport(handle), backoff=NO_JITTER, metrics=metrics
    )
    with trio.fail_after(MOCK_PATIENCE), watch_log(LOGGER, "permission denied") as canceled:
        async with collect(source, patience=MOCK_PATIENCE) as updates:
            assert await updates.next() == Reset([(("10.0.0.1", 80), Meta())])
            await canceled.wait_for(1)
            gateway.revision = 40
            gateway.put("/svc/c", value("10.0.0.3"))
            assert await updates.next() == Add([(("10.0.0.3", 80), Meta())])
    assert starts == [22]
    assert gateway.watch_starts == [32], "the watch resumed after the last event it saw"
    assert errors(registry, "etcd", "bad_record") == 4
    assert errors(registry, "etcd", "unavailable") == 1


def test_prefix_range_end() -> None:
    assert prefix_range_end(b"/svc/") == b"/svc0"
    assert prefix_range_end(b"a\xff") == b"b"
    assert prefix_range_end(b"\xff\xff") == b"\0"
    assert prefix_range_end(b"") == b"\0"


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="url must be an http"):
        EtcdDiscovery("/svc/", url="127.0.0.1:2379")
    with pytest.raises(TypeError, match="prefix must be a str"):
        EtcdDiscovery(b"/svc/")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be a finite number > 0"):
        EtcdDiscovery("/svc/", timeout=0)


def endpoints_of_keys(values: dict[bytes, bytes]) -> dict[tuple[str, int], Any]:
    """What the keys mean: each key's latest valid value, the smaller key winning."""
    endpoints: dict[tuple[str, int], Any] = {}
    for key in sorted(values):
        record = json.loads(values[key])
        endpoints.setdefault((record["host"], record["port"]), record.get("meta") or {})
    return endpoints


def strict_json(data: bytes) -> object:
    def reject(constant: str) -> None:
        raise ValueError(constant)

    try:
        return json.loads(data, parse_constant=reject)
    except (ValueError, RecursionError):
        return None


fuzzed_values = (
    st.binary()
    | json_values.map(lambda v: json.dumps(v).encode())
    | near_records.map(lambda v: json.dumps(v).encode())
)


@given(
    st.lists(st.tuples(st.sampled_from(["/svc/a", "/svc/b", "/svc/c"]), fuzzed_values), max_size=4),
    st.randoms(use_true_random=False),
)
def test_fuzzed_values_never_end_the_source_nor_change_the_set_unless_valid(
    puts: list[tuple[str, bytes]], rng: random.Random
) -> None:
    good = {b"/svc/a": value("10.0.0.1"), b"/svc/b": value("10.0.0.2", zone="x")}
    valid = dict(good)
    for key, data in puts:
        if is_valid(strict_json(data)):
            valid[key.encode()] = data
    sentinel = ("192.0.2.1", 9)

    async def main() -> None:
        gateway = FakeGateway()
        for good_key, good_value in good.items():
            gateway.put(good_key.decode(), good_value)
        async with collect(gateway.source(rng=rng), patience=MOCK_PATIENCE) as updates:
            await updates.next()
            for key, data in puts:
                gateway.put(key, data)
            gateway.put("/svc/zz", value(*sentinel))
            wanted = endpoints_of_keys({**valid, b"/svc/zz": value(*sentinel)})
            received = await updates.until(wanted)
            if all(not is_valid(strict_json(data)) for _, data in puts):
                assert received == [Add([(sentinel, Meta())])], (
                    "invalid values changed nothing: only the sentinel came"
                )

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- against a real etcd --------------------------------------------------------------

FAST = Backoff(initial=0.02, maximum=0.1, multiplier=2.0, jitter=0.0)


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[Etcd]:
    with Etcd.running(tmp_path) as server:
        yield server


def real_source(url: str, **options: Any) -> EtcdDiscovery:
    return EtcdDiscovery("/svc/", url=url, timeout=2.0, backoff=FAST, **options)


async def test_etcd_list_then_watch_with_bad_values_beside_good_ones(etcd: Etcd) -> None:
    registry, metrics = new_metrics()
    client = EtcdClient(etcd.url)
    await client.put("/svc/a", {"host": "10.0.0.1", "port": 80})
    await client.put("/svc/b", b"not json")
    await client.put("/svc/c", {"host": "10.0.0.3", "port": 80, "meta": {"zone": "a"}})
    await client.put("/other/d", {"host": "10.0.0.4", "port": 80})
    async with collect(real_source(etcd.url, metrics=metrics)) as updates:
        assert await updates.next() == Reset(
            [(("10.0.0.1", 80), Meta()), (("10.0.0.3", 80), Meta(zone="a"))]
        )
        assert errors(registry, "etcd", "bad_record") == 1
        await client.put("/svc/e", {"host": "10.0.0.5", "port": 8080})
        assert await updates.next() == Add([(("10.0.0.5", 8080), Meta())])
        await client.put("/svc/c", {"host": "10.0.0.3", "port": 80, "meta": {"zone": "b"}})
        assert await updates.next() == Add([(("10.0.0.3", 80), Meta(zone="b"))])
        await client.put("/svc/a", {"host": "10.0.0.1"})  # bad: keeps the last good value
        await client.delete("/svc/e")
        assert await updates.next() == Remove([("10.0.0.5", 8080)])
        assert ("10.0.0.1", 80) in updates.state
        await client.put("/svc/b", {"host": "10.0.0.2", "port": 80})
        assert await updates.next() == Add([(("10.0.0.2", 80), Meta())])
        await client.put("/other/f", {"host": "10.0.0.6", "port": 80})
        await client.delete("/svc/a")
        assert await updates.next() == Remove([("10.0.0.1", 80)])
    assert errors(registry, "etcd", "bad_record") == 2


async def test_etcd_two_keys_with_one_address(etcd: Etcd) -> None:
    registry, metrics = new_metrics()
    client = EtcdClient(etcd.url)
    await client.put("/svc/a", {"host": "10.0.0.1", "port": 80, "meta": {"key": "a"}})
    await client.put("/svc/b", {"host": "10.0.0.1", "port": 80, "meta": {"key": "b"}})
    async with collect(real_source(etcd.url, metrics=metrics)) as updates:
        assert await updates.next() == Reset([(("10.0.0.1", 80), Meta(key="a"))])
        await client.delete("/svc/a")
        assert await updates.next() == Add([(("10.0.0.1", 80), Meta(key="b"))]), (
            "the other key takes over"
        )
    assert errors(registry, "etcd", "bad_record") == 1


async def test_etcd_dropped_watch_and_compaction(etcd: Etcd) -> None:
    registry, metrics = new_metrics()
    client = EtcdClient(etcd.url)
    await client.put("/svc/a", {"host": "10.0.0.1", "port": 80})
    proxy = TcpProxy(etcd.client_port)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.run)
        async with collect(real_source(proxy.url, metrics=metrics)) as updates:
            assert await updates.next() == Reset([(("10.0.0.1", 80), Meta())])
            # A dropped connection: the watch resumes, and what changed meanwhile comes
            # as changes.
            proxy.cut()
            await client.put("/svc/b", {"host": "10.0.0.2", "port": 80})
            await updates.none_within(0.3)
            proxy.restore()
            assert await updates.next() == Add([(("10.0.0.2", 80), Meta())])
            # Dropped again, and the history compacted meanwhile: a new list, a Reset.
            proxy.cut()
            await client.delete("/svc/a")
            await client.put("/svc/c", {"host": "10.0.0.3", "port": 80})
            await client.compact()
            await updates.none_within(0.3)
            proxy.restore()
            assert await updates.next() == Reset(
                [(("10.0.0.2", 80), Meta()), (("10.0.0.3", 80), Meta())]
            )
        nursery.cancel_scope.cancel()
    assert errors(registry, "etcd", "compacted") == 1
    assert errors(registry, "etcd", "unavailable") >= 2


async def test_etcd_an_empty_prefix_covers_every_key(etcd: Etcd) -> None:
    client = EtcdClient(etcd.url)
    await client.put("/svc/a", {"host": "10.0.0.1", "port": 80})
    await client.put("other", {"host": "10.0.0.2", "port": 80})
    source = EtcdDiscovery("", url=etcd.url, timeout=2.0, backoff=FAST)
    async with collect(source) as updates:
        assert await updates.next() == Reset(
            [(("10.0.0.1", 80), Meta()), (("10.0.0.2", 80), Meta())]
        )


async def test_etcd_a_bad_value_keeps_its_last_good_one_across_a_new_list(
    etcd: Etcd,
) -> None:
    client = EtcdClient(etcd.url)
    await client.put("/svc/a", {"host": "10.0.0.1", "port": 80})
    proxy = TcpProxy(etcd.client_port)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.run)
        async with collect(real_source(proxy.url)) as updates:
            assert await updates.next() == Reset([(("10.0.0.1", 80), Meta())])
            await client.put("/svc/a", b"garbage")  # bad: its last good value stays
            await updates.none_within(0.3)
            proxy.cut()
            await client.put("/svc/b", {"host": "10.0.0.2", "port": 80})
            await client.put("/svc/c", {"host": "10.0.0.3", "port": 80})
            await client.compact()
            proxy.restore()
            # The compaction forces a new list; /svc/a is still garbage, and keeps
            # the value it had, as it did while watching.
            assert await updates.next() == Reset(
                [(("10.0.0.1", 80), Meta()), (("10.0.0.2", 80), Meta()), (("10.0.0.3", 80), Meta())]
            )
        nursery.cancel_scope.cancel()


async def test_etcd_stopped_and_restarted(etcd: Etcd) -> None:
    registry, metrics = new_metrics()
    client = EtcdClient(etcd.url)
    await client.put("/svc/a", {"host": "10.0.0.1", "port": 80})
    async with collect(real_source(etcd.url, metrics=metrics)) as updates:
        await updates.next()
        await trio.to_thread.run_sync(etcd.stop)
        await updates.none_within(0.5)
        assert errors(registry, "etcd", "unavailable") >= 2, "retried while down"
        await trio.to_thread.run_sync(etcd.start)
        await client.put("/svc/b", {"host": "10.0.0.2", "port": 80})
        assert await updates.next() == Add([(("10.0.0.2", 80), Meta())])
        # Rebuilt from an empty data directory: its revisions start over, so the watch
        # cannot resume; the source lists again.
        await trio.to_thread.run_sync(lambda: etcd.restart(wipe=True))
        assert await updates.next() == Reset([])
        await client.put("/svc/c", {"host": "10.0.0.3", "port": 80})
        assert await updates.next() == Add([(("10.0.0.3", 80), Meta())])
