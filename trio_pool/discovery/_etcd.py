"""`EtcdDiscovery`: endpoints stored under an etcd key prefix; list, then watch.

It speaks etcd's v3 HTTP/JSON gateway (``/v3/kv/range``, ``/v3/watch``; keys and values
base64) through httpx, so it needs no gRPC stack. The algorithm is the one every etcd
watcher follows:

1. *List*: one range request over the prefix gives every key and the store's revision
   R at that moment; yield a `Reset`.
2. *Watch* from R + 1: the stream replays whatever changed since the list, then each
   change as it happens; yield the difference after each batch of events, and remember
   the revision of the last event.
3. When the watch breaks (a dropped connection, a restarted server), watch again from
   the last revision + 1, after a backoff: no event is missed and nothing is listed
   again. When etcd answers that this revision was compacted away, or the store's
   revision went backwards, or the cluster changed (a server rebuilt from scratch),
   the history is gone: list again and yield a `Reset`. A server rebuilt from scratch
   with the same identity, whose revision has caught up with ours by the time the watch
   resumes, cannot be told from the old one (no etcd client can): restart the source
   after rebuilding a server that way.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import attrs
import trio

from .._backoff import Backoff
from .._update import Update
from . import _validate
from ._http import abandon
from ._meta import Meta
from ._metrics import DiscoveryMetrics, ErrorKind
from ._record import Address, BadRecord, parse_endpoint_json
from ._retry import DEFAULT_BACKOFF, Retry, TransientError
from ._tracker import Tracker

try:
    import httpx
except ImportError as exc:  # the "httpx" extra is not installed
    _httpx_missing: ImportError | None = exc
else:
    _httpx_missing = None

    class _RequestBody(httpx.AsyncByteStream):
        """A request body that iterates without an async generator (see `_post`)."""

        def __init__(self, data: bytes) -> None:
            self._data = data

        def __aiter__(self) -> AsyncIterator[bytes]:
            return _OneChunk(self._data)


__all__ = ["EtcdDiscovery", "prefix_range_end"]

logger = logging.getLogger("trio_pool.discovery.etcd")


def prefix_range_end(prefix: bytes) -> bytes:
    """The ``range_end`` that makes an etcd range cover every key starting with ``prefix``.

    The prefix with its last byte incremented, after dropping trailing ``0xff`` bytes;
    ``b"\\0"`` (every key) for an empty prefix or one of ``0xff`` bytes only.
    """
    end = prefix.rstrip(b"\xff")
    if not end:
        return b"\0"
    return end[:-1] + bytes([end[-1] + 1])


def _check_prefix(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"prefix must be a str, got {value!r}")


def _check_url(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError(f"url must be an http:// or https:// URL, got {value!r}")


@attrs.frozen
class EtcdDiscovery:
    """Endpoints stored under the etcd key ``prefix``, one per key; list, then watch.

    Each key's value is one endpoint, the same JSON object as an entry of
    `FileDiscovery`'s file: ``{"host": "10.0.0.1", "port": 8080, "meta": {...}}``:

    ```python
    # etcdctl put /services/users/a '{"host": "10.0.0.1", "port": 8080}'
    async with open_pool_queue(pool, EtcdDiscovery("/services/users/")) as queue:
        ...
    ```

    What the stream yields:

    - first a `Reset` with the endpoints under the prefix (no keys is an empty set: etcd
      has no notion of a missing directory, so this source never yields `DoesNotExist`);
    - after each batch of changes, the difference: an `Add` of new endpoints and of
      those whose value changed, then a `Remove` of the vanished ones;
    - a `Reset` when it had to list again (see below).

    What it never does is end, or let a bad value empty the pool:

    - A value that is not a valid endpoint is skipped, with a warning on the
      ``trio_pool.discovery.etcd`` logger and a ``bad_record`` error; a key that held a good
      value keeps it. Two keys with the same address count once, for the smaller key;
      the other is reported as a bad record.
    - A failed request, a dropped watch or a stopped server keeps the last set (an
      ``unavailable`` or ``timeout`` error, ``invalid`` for a garbled response); the
      watch resumes after ``backoff`` from the revision it reached, so no change is lost.
    - If that revision was compacted (a ``compacted`` error), or the server lost its
      data or is another cluster, it lists again and yields a `Reset`. (A server that
      lost its data but kept its identity, and whose revision caught up meanwhile,
      cannot be detected; see the module notes.)

    A silently dead connection (no reset, no close) is noticed only when the operating
    system gives up on it: the watch has no read timeout, since it may legitimately be
    quiet for hours. The range request is not paginated, so a prefix must fit in one
    response (etcd's default limit is some megabytes: tens of thousands of endpoints).

    Each iteration (each ``async for``) opens its own HTTP client and starts with a
    `Reset`. Proxy environment variables are ignored.

    Arguments after ``prefix`` are keyword-only.

    Raises:
        ImportError: httpx is missing (install ``trio-pool[httpx]``).
    """

    prefix: str = attrs.field(validator=_check_prefix)
    """The key prefix, say ``"/services/users/"``; ``""`` covers every key."""
    url: str = attrs.field(default="http://127.0.0.1:2379", kw_only=True, validator=_check_url)
    """The etcd server's client URL: one server, or a proxy in front of several."""
    timeout: float = attrs.field(default=10.0, kw_only=True, validator=_validate.positive)
    """Connect, read and write timeout of each request, in seconds (but for the watch's
    reads, which have none)."""
    transport: httpx.AsyncBaseTransport | None = attrs.field(default=None, kw_only=True, eq=False)
    """The httpx transport to use: TLS client certificates, a mock in tests."""
    backoff: Backoff = attrs.field(
        default=DEFAULT_BACKOFF, kw_only=True, validator=_validate.backoff
    )
    """Delays between retries after failures."""
    rng: random.Random | None = attrs.field(default=None, kw_only=True, eq=False)
    """Randomness for the backoff's jitter, for reproducible runs."""
    metrics: DiscoveryMetrics | None = attrs.field(
        default=None, kw_only=True, validator=_validate.metrics
    )
    """Counts updates and errors under ``source="etcd"``, or ``None``."""

    def __attrs_post_init__(self) -> None:
        if _httpx_missing is not None:
            raise ImportError("EtcdDiscovery needs httpx: install trio-pool[httpx]") from (
                _httpx_missing
            )

    def __aiter__(self) -> AsyncGenerator[Update, None]:
        return self._updates()

    async def _updates(self) -> AsyncGenerator[Update, None]:
        tracker = Tracker("etcd", f"etcd prefix {self.prefix!r}", logger, self.metrics)
        retry = Retry(self.backoff, self.rng if self.rng is not None else random.Random())
        watch = _Watch(tracker, retry, self.prefix.encode())
        async with httpx.AsyncClient(
            base_url=self.url,
            transport=self.transport,
            timeout=httpx.Timeout(self.timeout),
            trust_env=False,
        ) as client:
            while True:
                try:
                    if watch.revision is None:
                        request = _post(client, "/v3/kv/range", watch.range_request())
                        response = await client.send(request)
                        await _check_status(response)
                        for update in watch.listed(response.content):
                            yield update
                    request = _post(client, "/v3/watch", watch.watch_request())
                    # The watch may be quiet for hours: no read timeout.
                    request.extensions["timeout"] = httpx.Timeout(self.timeout, read=None).as_dict()
                    response = await client.send(request, stream=True)
                    lines = response.aiter_lines()
                    try:
                        await _check_status(response)
                        async for line in lines:
                            updates = watch.received(line)
                            if updates is None:
                                break  # list again
                            for update in updates:
                                yield update
                        else:
                            raise TransientError("unavailable", "the watch ended")
                    finally:
                        await abandon(lines)
                        await response.aclose()
                except TransientError as exc:
                    failure: tuple[ErrorKind, str] = (exc.kind, exc.message)
                except httpx.TimeoutException as exc:
                    failure = ("timeout", f"request timed out: {exc!r}")
                except (httpx.HTTPError, OSError) as exc:
                    failure = ("unavailable", f"request failed: {exc!r}")
                else:
                    continue
                delay = retry.failed()
                tracker.error(*failure, retry_in=delay)
                await trio.sleep(delay)


@attrs.define(eq=False)
class _Watch:
    """What one iteration knows: the good value of each key, and the revision reached."""

    tracker: Tracker
    retry: Retry
    prefix: bytes
    revision: int | None = None
    """The revision the reported endpoints reflect; ``None`` until listed."""
    cluster_id: object = None
    _values: dict[bytes, tuple[Address, Meta]] = attrs.field(factory=dict)
    _shadowed: set[bytes] = attrs.field(factory=set)

    def range_request(self) -> dict[str, Any]:
        # etcd refuses an empty key; b"\0" up to b"\0" as range_end means every key.
        return {
            "key": _b64(self.prefix or b"\0"),
            "range_end": _b64(prefix_range_end(self.prefix)),
        }

    def watch_request(self) -> dict[str, Any]:
        assert self.revision is not None, "a watch follows a list"
        return {
            "create_request": {
                **self.range_request(),
                "start_revision": str(self.revision + 1),
                "progress_notify": True,
            }
        }

    def listed(self, content: bytes) -> list[Update]:
        """Take the range response's keys as the whole set; return the `Reset`."""
        body = _json_object(content, "range response")
        header = body.get("header")
        if not isinstance(header, dict) or "revision" not in header:
            raise TransientError("invalid", "range response without a revision")
        kvs = body.get("kvs", [])
        if not isinstance(kvs, list):
            raise TransientError("invalid", "range response: kvs is not a list")
        revision = _int(header["revision"])
        self.cluster_id = header.get("cluster_id")
        # A key whose value went bad keeps its last good value across a new list too,
        # as it does while watching: what the pool holds must not depend on whether a
        # compaction forced a list in between.
        previous, self._values = self._values, {}
        self._shadowed = set()
        for kv in kvs:
            self._put(kv, previous)
        self.revision = revision
        return self.tracker.reset(self.endpoints())

    def received(self, line: str) -> list[Update] | None:
        """Handle one line of the watch stream: the updates it makes, or ``None`` when
        the history is lost and the keys must be listed again."""
        assert self.revision is not None, "a watch follows a list"
        if not line.strip():
            return []
        result = _watch_result(line)
        relist = self._lost_history(result, self.revision)
        if relist is not None:
            self.tracker.logger.warning("%s: %s; listing again", self.tracker.name, relist)
            self.revision = None
            return None
        if _truthy(result.get("canceled")) or "compact_revision" in result:
            compacted = _int(result.get("compact_revision", 0))
            if not compacted:
                reason = result.get("cancel_reason") or "no reason given"
                raise TransientError("unavailable", f"watch canceled: {reason}")
            self.tracker.error(
                "compacted",
                f"the watch cannot resume: revision {self.revision + 1} was compacted "
                f"(up to {compacted}); listing again",
            )
            self.revision = None
            return None
        if _truthy(result.get("created")):
            if self.retry.succeeded():
                self.tracker.logger.info("%s: watching again", self.tracker.name)
            return []
        self.revision = self._apply_events(result, self.revision)
        return self.tracker.changes(self.endpoints())

    def _lost_history(self, result: dict[str, Any], revision: int) -> str | None:
        header = result.get("header")
        if not isinstance(header, dict):
            return None
        cluster_id = header.get("cluster_id")
        if cluster_id is not None and self.cluster_id is not None and cluster_id != self.cluster_id:
            return f"the cluster changed (id {self.cluster_id} to {cluster_id})"
        if _truthy(result.get("created")) and "revision" in header:
            current = _int(header["revision"])
            if current < revision:
                return f"the store's revision went back from {revision} to {current}"
        return None

    def _apply_events(self, result: dict[str, Any], revision: int) -> int:
        """Apply a watch response's events; return the revision reached."""
        events = result.get("events", [])
        if not isinstance(events, list):
            raise TransientError("invalid", "watch response: events is not a list")
        if not events:
            # A progress notification: everything up to the header's revision was sent.
            header = result.get("header")
            if isinstance(header, dict) and "revision" in header:
                return max(revision, _int(header["revision"]))
            return revision
        for event in events:
            kv = event.get("kv") if isinstance(event, dict) else None
            if not isinstance(kv, dict):
                self.tracker.bad_record("a watch event", "no key-value in it")
                continue
            revision = max(revision, _int(kv.get("mod_revision", 0)))
            if event.get("type", "PUT") == "DELETE":
                key = _key(kv, self.tracker)
                if key is not None:
                    self._values.pop(key, None)
            else:
                self._put(kv)
        return revision

    def _put(self, kv: object, previous: dict[bytes, tuple[Address, Meta]] | None = None) -> None:
        """Take one key's value; a bad one keeps the key's last good value, from
        ``previous`` when listing (else from the current values)."""
        if not isinstance(kv, dict):
            self.tracker.bad_record("a key-value", "not an object")
            return
        key = _key(kv, self.tracker)
        if key is None:
            return
        where = f"key {_printable(key)}"
        try:
            value = base64.b64decode(kv.get("value", ""), validate=True)
            address, meta = parse_endpoint_json(value)
        except (BadRecord, binascii.Error, TypeError, ValueError) as exc:
            last_good = (self._values if previous is None else previous).get(key)
            if last_good is not None:
                self._values[key] = last_good
            kept = "; its last good value stays" if last_good is not None else ""
            self.tracker.bad_record(where, f"{exc}{kept}")
            return
        self._values[key] = (address, meta)

    def endpoints(self) -> dict[Address, Meta]:
        """The endpoints, the smaller key winning when two keys hold one address."""
        endpoints: dict[Address, Meta] = {}
        holders: dict[Address, bytes] = {}
        shadowed: set[bytes] = set()
        for key in sorted(self._values):
            address, meta = self._values[key]
            if address in endpoints:
                shadowed.add(key)
                if key not in self._shadowed:
                    self.tracker.bad_record(
                        f"key {_printable(key)}",
                        f"key {_printable(holders[address])} holds the address {address!r}",
                    )
                continue
            endpoints[address] = meta
            holders[address] = key
        self._shadowed = shadowed
        return endpoints


def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Request:
    """A JSON POST to ``path``, whose body iterates without an async generator.

    httpx iterates a request body with an async generator; a send that fails halfway
    (a connection dropped, refused mid-write) leaves it to the garbage collector, and
    Trio reports that with a ``ResourceWarning``. A plain iterator object has no such
    state to leave behind.
    """
    data = json.dumps(body).encode()
    request = client.build_request(
        "POST", path, content=data, headers={"Content-Type": "application/json"}
    )
    request.stream = _RequestBody(data)
    return request


class _OneChunk(AsyncIterator[bytes]):
    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data


async def _check_status(response: httpx.Response) -> None:
    if response.status_code == 200:
        return
    body = (await response.aread())[:300].decode("utf-8", "replace")
    raise TransientError("unavailable", f"HTTP {response.status_code} from etcd: {body}")


def _watch_result(line: str) -> dict[str, Any]:
    message = _json_object(line.encode(), "watch response")
    if "error" in message:
        error = message["error"]
        detail = error.get("message", error) if isinstance(error, dict) else error
        raise TransientError("unavailable", f"watch failed: {detail}")
    result = message.get("result")
    if not isinstance(result, dict):
        raise TransientError("invalid", "watch response without a result")
    return result


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise TransientError("invalid", f"{what} is not JSON: {data[:100]!r}") from None
    if not isinstance(value, dict):
        raise TransientError("invalid", f"{what} is not a JSON object")
    return value


def _key(kv: dict[str, Any], tracker: Tracker) -> bytes | None:
    try:
        return base64.b64decode(kv["key"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        tracker.bad_record("a key-value", "no valid key")
        return None


def _int(value: object) -> int:
    # The gateway writes int64 fields as JSON strings.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TransientError("invalid", f"expected an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise TransientError("invalid", f"expected an integer, got {value!r}") from None


def _truthy(value: object) -> bool:
    return value is True or value == "true"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _printable(key: bytes) -> str:
    return repr(key.decode("utf-8", "backslashreplace"))
