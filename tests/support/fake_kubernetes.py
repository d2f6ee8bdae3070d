"""A fake Kubernetes API server for the EndpointSlice tests, on 127.0.0.1.

No real API server can be installed here, so this one is written from the API reference
(``discovery.k8s.io/v1`` EndpointSlice, ``v1`` Service and Status) and the "API
concepts" page. It speaks real HTTP/1.1 (h11 on Trio, keep-alive, chunked watch
streams), with TLS when given a certificate, and reproduces what a client must cope
with:

- ``GET /api/v1/namespaces/{ns}/services/{name}``: the Service, or a 404 ``Status`` of
  reason ``NotFound``; a Service deleted in the foreground shows its
  ``deletionTimestamp`` until its slices are gone;
- ``GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices``: lists filtered by
  ``labelSelector`` (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``), paginated with
  ``limit`` and ``continue`` (every page from one snapshot, whose version every page
  returns; ``remainingItemCount``; items without ``kind`` and ``apiVersion``, as typed
  lists have them); a token whose snapshot was compacted gets 410 ``Expired``;
- the same with ``watch=1``: newline-delimited ``ADDED``, ``MODIFIED``, ``DELETED``
  events from ``resourceVersion`` on (replayed from the history, then live; an object
  relabelled out of the selector is ``DELETED``, into it ``ADDED``; without a version,
  the current objects as ``ADDED`` first), ``BOOKMARK`` events with
  ``allowWatchBookmarks=true`` (on demand, and just before ``timeoutSeconds`` ends the
  watch), and a version older than the kept history answered by a 410, as an
  ``ERROR`` event in the stream or as the HTTP status (``expired_as_status``);
- resourceVersions that are opaque strings (neither numbers nor in order), one global
  sequence for every object, as etcd's revision is;
- bearer tokens (``tokens``; a wrong one gets a 401 ``Status``) and RBAC refusals
  (``denied``: 403 ``Status`` in the real message's words);
- the faults of a real server and network, on demand: a scripted status for the next
  request of a kind (429 with ``Retry-After``, 5xx, 410...), watches dropped mid-stream
  (the connection closed without the last chunk), ended normally, ended at once with no
  event, expired in-stream, or stalled (silent, the connection open).

It can also serve what a real server's validation would refuse (`put_object`), to test
that a client skips it. It does not reproduce: authentication other than bearer tokens,
``resourceVersionMatch``, set-based selectors, field selectors, protobuf, HTTP/2,
watch-list streaming (``sendInitialEvents``), or any other resource.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import attrs
import h11
import trio
import trustme

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
FaultKind = Literal["get", "list", "continue", "watch"]

_SERVICE_PATH = re.compile(r"/api/v1/namespaces/([^/]+)/services/([^/]+)")
_SLICES_PATH = re.compile(r"/apis/discovery\.k8s\.io/v1/namespaces/([^/]+)/endpointslices")
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token "
    "in this response to retrieve the remainder of the results. Continuing with the "
    "provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may "
    "show up in the list."
)


def status(code: int, message: str, *, reason: str | None = None, **details: Any) -> Obj:
    """A ``v1`` ``Status``, as the API server answers errors."""
    body: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, ""),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def endpoint(
    ip: str,
    *,
    ready: bool | None = True,
    serving: bool | None = None,
    terminating: bool | None = None,
    zone: str | None = None,
    hints: list[str] | None = None,
    node: str | None = None,
    hostname: str | None = None,
    pod: str | None = None,
    extra_addresses: tuple[str, ...] = (),
) -> Obj:
    """An EndpointSlice endpoint; conditions left ``None`` are left out (nil)."""
    conditions = {
        key: value
        for key, value in (("ready", ready), ("serving", serving), ("terminating", terminating))
        if value is not None
    }
    result: Obj = {"addresses": [ip, *extra_addresses], "conditions": conditions}
    if zone is not None:
        result["zone"] = zone
    if hints is not None:
        result["hints"] = {"forZones": [{"name": z} for z in hints]}
    if node is not None:
        result["nodeName"] = node
    if hostname is not None:
        result["hostname"] = hostname
    if pod is not None:
        result["targetRef"] = {"kind": "Pod", "namespace": "default", "name": pod, "uid": pod}
    return result


def slice_port(name: str, port: int | None, protocol: str = "TCP") -> Obj:
    return {"name": name, "port": port, "protocol": protocol}


def service_port(name: str, port: int, target: int | str | None = None) -> Obj:
    return {"name": name, "protocol": "TCP", "port": port, "targetPort": target or port}


def _labels(obj: Obj | None) -> Mapping[str, str]:
    if obj is None:
        return {}
    labels = obj.get("metadata", {}).get("labels")
    return labels if isinstance(labels, dict) else {}


@attrs.frozen
class Requirement:
    """One requirement of an equality-based label selector."""

    key: str
    operator: Literal["=", "!=", "exists", "!"]
    value: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "=":
            return labels.get(self.key) == self.value
        if self.operator == "!=":
            return labels.get(self.key) != self.value
        return (self.key in labels) == (self.operator == "exists")


@attrs.frozen
class Selector:
    requirements: tuple[Requirement, ...]

    def __call__(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)


def parse_selector(text: str) -> Selector:
    """An equality-based label selector; raises ``ValueError`` for what it cannot read."""
    requirements: list[Requirement] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "!=" in part:
            key, value = (s.strip() for s in part.split("!=", 1))
            requirements.append(Requirement(key, "!=", value))
        elif "=" in part:
            key, value = (s.strip() for s in part.replace("==", "=").split("=", 1))
            requirements.append(Requirement(key, "=", value))
        elif part.startswith("!"):
            requirements.append(Requirement(part[1:].strip(), "!"))
        elif re.fullmatch(r"[A-Za-z0-9./_-]+", part):
            requirements.append(Requirement(part, "exists"))
        else:
            raise ValueError(f"unable to parse requirement: {part!r}")
    return Selector(tuple(requirements))


@attrs.frozen
class Seen:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    authorization: str | None

    @property
    def kind(self) -> FaultKind | None:
        """What it asked for, in `FakeKubernetes.fail_next`'s words."""
        if _SERVICE_PATH.fullmatch(self.path):
            return "get"
        if not _SLICES_PATH.fullmatch(self.path):
            return None
        if self.query.get("watch") in ("1", "true"):
            return "watch"
        return "continue" if self.query.get("continue") else "list"


@attrs.frozen
class Fault:
    status: int
    retry_after: str | None = None
    before: Callable[[], None] | None = None


@attrs.frozen
class _Change:
    revision: int
    key: tuple[str, str]
    old: Obj | None
    new: Obj | None
    """The new object, or ``None`` for a deletion."""
    tombstone: Obj | None = None
    """For a deletion: the last object, with the deletion's version."""


_CLOSE = "close"
_STALL = "stall"


@attrs.define(eq=False)
class _Watcher:
    namespace: str
    selector: Callable[[Mapping[str, str]], bool]
    bookmarks: bool
    send: trio.MemorySendChannel[Obj | str | bytes]
    receive: trio.MemoryReceiveChannel[Obj | str | bytes]
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    aborted: bool = False
    gone: bool = False
    stalled: bool = False


class _Abort(Exception):
    """Drop the connection without ending the response."""


@attrs.define(eq=False)
class FakeKubernetes:
    """The API server's state, and the knobs a test turns. Serve it with
    `open_fake_kubernetes`."""

    tokens: set[str] | None = None
    """Accepted bearer tokens; ``None`` accepts any request (as ``kubectl proxy`` does)."""
    denied: set[str] = attrs.field(factory=set)
    """``"verb resource"`` pairs refused with 403, say ``"get services"``."""
    expired_as_status: bool = False
    """Answer a watch from a compacted version with HTTP 410 instead of an ERROR event."""
    bookmark_at_timeout: bool = True
    """Send a BOOKMARK just before ``timeoutSeconds`` ends a watch that allows them."""
    empty_watches: int = 0
    """How many of the next watches end at once, without any event."""
    certificate: trustme.LeafCert | None = None
    on_unauthorized: Callable[[], None] | None = None
    """Called when a request is refused with 401 (a test rotates the token there)."""
    on_request: Callable[[Seen], None] | None = None
    """Called as each request arrives, before it is answered."""
    epoch: str = "k8s"
    """Seeds the opaque versions: two servers with another epoch share none."""
    requests: list[Seen] = attrs.field(factory=list)
    watch_starts: list[str | None] = attrs.field(factory=list)
    """The ``resourceVersion`` each watch asked for, in order."""
    port: int = 0
    services: dict[tuple[str, str], Obj] = attrs.field(factory=dict)
    _slices: dict[tuple[str, str], Obj] = attrs.field(factory=dict)
    _revision: int = 1
    _versions: dict[str, int] = attrs.field(factory=dict)
    _history: list[_Change] = attrs.field(factory=list)
    _oldest: int = 1
    _snapshots: dict[int, dict[tuple[str, str], Obj]] = attrs.field(factory=dict)
    _faults: dict[str, list[Fault]] = attrs.field(factory=dict)
    _watchers: list[_Watcher] = attrs.field(factory=list)
    _activity: trio.Event = attrs.field(factory=trio.Event)

    @property
    def url(self) -> str:
        scheme = "https" if self.certificate is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def version(self) -> str:
        """The current resourceVersion."""
        return self._version(self._revision)

    @property
    def active_watches(self) -> int:
        return len(self._watchers)

    @property
    def delivered(self) -> bool:
        """Whether a watch is live and has sent everything, and no fault is pending: a
        client idle now knows the current state of the slices."""
        return (
            bool(self._watchers)
            and all(
                not w.stalled and w.receive.statistics().current_buffer_used == 0
                for w in self._watchers
            )
            and not any(self._faults.values())
            and self.empty_watches == 0
        )

    def requests_of(self, kind: FaultKind) -> list[Seen]:
        return [seen for seen in self.requests if seen.kind == kind]

    def slices(self, namespace: str = "default") -> dict[str, Obj]:
        return {name: obj for (ns, name), obj in self._slices.items() if ns == namespace}

    def _version(self, revision: int) -> str:
        text = hashlib.blake2s(f"{self.epoch}/{revision}".encode(), digest_size=6).hexdigest()
        self._versions[text] = revision
        return text

    def _bump(self) -> str:
        self._revision += 1
        return self._version(self._revision)

    # -- objects ------------------------------------------------------------------

    def put_service(
        self, name: str, ports: list[Obj] | None = None, *, namespace: str = "default"
    ) -> None:
        ports = [service_port("http", 80, 8080)] if ports is None else ports
        self.services[(namespace, name)] = {
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"uid-{name}",
                "resourceVersion": self._bump(),
            },
            "spec": {"ports": copy.deepcopy(ports), "selector": {"app": name}},
        }

    def delete_service(
        self, name: str, *, namespace: str = "default", foreground: bool = False
    ) -> None:
        """Delete the Service, then (garbage collection) the slices it owns. In the
        foreground, the Service stays with a ``deletionTimestamp`` until
        `finish_deletion`, and its slices go first."""
        key = (namespace, name)
        if foreground:
            service = copy.deepcopy(self.services[key])
            service["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
            service["metadata"]["resourceVersion"] = self._bump()
            self.services[key] = service
        else:
            del self.services[key]
            self._bump()
        for (ns, slice_name), obj in sorted(self._slices.items()):
            if ns == namespace and _labels(obj).get(SERVICE_NAME_LABEL) == name:
                self.delete_slice(slice_name, namespace=namespace)

    def finish_deletion(self, name: str, *, namespace: str = "default") -> None:
        del self.services[(namespace, name)]
        self._bump()

    def put_slice(
        self,
        name: str,
        *,
        service: str,
        endpoints: list[Any],
        ports: list[Any] | None = None,
        address_type: str = "IPv4",
        namespace: str = "default",
    ) -> None:
        """Create or replace an EndpointSlice of ``service``, as its controller writes it."""
        self.put_object(
            {
                "kind": "EndpointSlice",
                "apiVersion": "discovery.k8s.io/v1",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "generateName": f"{service}-",
                    "labels": {
                        SERVICE_NAME_LABEL: service,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    },
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Service", "name": service, "uid": "u"}
                    ],
                },
                "addressType": address_type,
                "endpoints": endpoints,
                "ports": [slice_port("http", 8080)] if ports is None else ports,
            }
        )

    def put_object(self, obj: Obj) -> None:
        """Store a slice as given (only ``metadata.name`` is required): a real server's
        validation would refuse some of what a test sends this way."""
        obj = copy.deepcopy(obj)
        metadata = obj.setdefault("metadata", {})
        key = (metadata.setdefault("namespace", "default"), metadata["name"])
        metadata["resourceVersion"] = self._bump()
        self._record(_Change(self._revision, key, self._slices.get(key), obj))

    def delete_slice(self, name: str, *, namespace: str = "default") -> None:
        key = (namespace, name)
        old = self._slices[key]
        version = self._bump()
        tombstone = copy.deepcopy(old)
        tombstone["metadata"]["resourceVersion"] = version
        self._record(_Change(self._revision, key, old, None, tombstone))

    def _record(self, change: _Change) -> None:
        slices = dict(self._slices)  # copy on write: a stored reference is a snapshot
        if change.new is None:
            del slices[change.key]
        else:
            slices[change.key] = change.new
        self._slices = slices
        self._history.append(change)
        for watcher in self._watchers:
            event = _event_for(watcher, change)
            if event is not None:
                watcher.send.send_nowait(event)

    # -- faults -------------------------------------------------------------------

    def fail_next(
        self,
        kind: FaultKind,
        code: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        before: Callable[[], None] | None = None,
    ) -> None:
        """Answer the next ``times`` requests of ``kind`` with ``code``: ``get`` (the
        Service), ``list`` (a first page), ``continue`` (a later page), ``watch``.
        ``before`` runs first (to change the state as the request arrives)."""
        self._faults.setdefault(kind, []).extend([Fault(code, retry_after, before)] * times)

    def compact(self) -> None:
        """Forget the history: watches from an older version and continue tokens expire."""
        self._oldest = self._revision
        self._history.clear()
        self._snapshots.clear()

    def bookmark(self) -> None:
        for watcher in self._watchers:
            if watcher.bookmarks:
                watcher.send.send_nowait(self._bookmark())

    def _bookmark(self) -> Obj:
        return {
            "type": "BOOKMARK",
            "object": {
                "kind": "EndpointSlice",
                "apiVersion": "discovery.k8s.io/v1",
                "metadata": {"resourceVersion": self.version},
            },
        }

    def close_watches(self) -> None:
        """End every watch normally, as ``timeoutSeconds`` does."""
        for watcher in self._watchers:
            watcher.send.send_nowait(_CLOSE)

    def abort_watches(self) -> None:
        """Drop every watch's connection mid-stream."""
        for watcher in self._watchers:
            watcher.aborted = True
            watcher.scope.cancel()

    def expire_watches(self) -> None:
        """Send every watch a 410 ERROR event, which ends it, as the watch cache does
        for a watcher that fell too far behind."""
        error = status(410, "The resourceVersion for the provided watch is too old.")
        for watcher in self._watchers:
            watcher.send.send_nowait({"type": "ERROR", "object": error})

    def send_raw(self, line: bytes) -> None:
        """Send every watch ``line`` as it is, a line of its stream: what no real server
        sends, to see that a client survives it."""
        for watcher in self._watchers:
            watcher.send.send_nowait(line)

    def stall_watches(self) -> None:
        """Make every watch silent, its connection open and its timeout ignored."""
        for watcher in self._watchers:
            watcher.send.send_nowait(_STALL)

    async def wait_watches(self, count: int) -> None:
        """Return once ``count`` watches were started in all."""
        while len(self.watch_starts) < count:
            await self._activity.wait()

    async def wait_requests(self, count: int) -> None:
        """Return once ``count`` requests arrived in all."""
        while len(self.requests) < count:
            await self._activity.wait()

    def _pulse(self) -> None:
        self._activity.set()
        self._activity = trio.Event()

    # -- HTTP ---------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, tcp: trio.SocketStream) -> None:
        stream: trio.abc.Stream = tcp
        connection = h11.Connection(h11.SERVER)
        try:
            if self.certificate is not None:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                self.certificate.configure_cert(context)
                stream = trio.SSLStream(tcp, context, server_side=True)
                await stream.do_handshake()
            while True:
                request = await _read_request(connection, stream)
                if request is None:
                    return
                await self._handle(connection, stream, request)
                if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                    return
                connection.start_next_cycle()
        except (_Abort, trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await trio.aclose_forcefully(stream)

    async def _handle(
        self, connection: h11.Connection, stream: trio.abc.Stream, request: h11.Request
    ) -> None:
        target = urlsplit(request.target.decode())
        query = {k: v[-1] for k, v in parse_qs(target.query, keep_blank_values=True).items()}
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        seen = Seen(target.path, query, headers.get("authorization"))
        self.requests.append(seen)
        self._pulse()
        if self.on_request is not None:
            self.on_request(seen)
        answer = self._refusal(request, headers)
        if answer is not None:
            await _respond(connection, stream, answer)
            return
        if match := _SERVICE_PATH.fullmatch(target.path):
            await _respond(connection, stream, self._get_service(*match.groups()))
        elif match := _SLICES_PATH.fullmatch(target.path):
            namespace = match.group(1)
            if query.get("watch") in ("1", "true"):
                await self._watch(connection, stream, namespace, query)
            else:
                await _respond(connection, stream, self._list(namespace, query))
        else:
            message = "the server could not find the requested resource"
            await _respond(connection, stream, (404, status(404, message), ()))

    def _refusal(self, request: h11.Request, headers: Mapping[str, str]) -> _Answer | None:
        if request.method != b"GET":
            return 405, status(405, f"{request.method.decode()} is not allowed here"), ()
        if self.tokens is not None:
            offered = headers.get("authorization", "")
            if not any(offered == f"Bearer {token}" for token in self.tokens):
                if self.on_unauthorized is not None:
                    self.on_unauthorized()
                return 401, status(401, "Unauthorized"), ()
        return None

    def _forbidden(self, verb: str, resource: str, group: str, namespace: str) -> _Answer | None:
        if f"{verb} {resource}" not in self.denied:
            return None
        message = (
            f"{resource}{'.' + group if group else ''} is forbidden: User "
            f'"system:serviceaccount:{namespace}:default" cannot {verb} resource '
            f'"{resource}" in API group "{group}" in the namespace "{namespace}"'
        )
        return 403, status(403, message, kind=resource), ()

    def _fault(self, kind: FaultKind) -> _Answer | None:
        faults = self._faults.get(kind)
        if not faults:
            return None
        fault = faults.pop(0)
        if fault.before is not None:
            fault.before()
        headers: tuple[tuple[str, str], ...] = ()
        details: dict[str, Any] = {}
        if fault.retry_after is not None:
            headers = (("Retry-After", fault.retry_after),)
            details["retryAfterSeconds"] = int(fault.retry_after)
        message = _EXPIRED_CONTINUE if kind == "continue" else f"injected {fault.status}"
        return fault.status, status(fault.status, message, **details), headers

    def _get_service(self, namespace: str, name: str) -> _Answer:
        refused = self._forbidden("get", "services", "", namespace) or self._fault("get")
        if refused is not None:
            return refused
        service = self.services.get((namespace, name))
        if service is None:
            body = status(404, f'services "{name}" not found', name=name, kind="services")
            return 404, body, ()
        return 200, service, ()

    def _list(self, namespace: str, query: Mapping[str, str]) -> _Answer:
        group = "discovery.k8s.io"
        refused = self._forbidden("list", "endpointslices", group, namespace)
        if refused is not None:
            return refused
        try:
            selector = parse_selector(query.get("labelSelector", ""))
            limit = int(query.get("limit") or 0)
        except ValueError as exc:
            return 400, status(400, str(exc)), ()
        token = query.get("continue")
        after = ""
        if token:
            refused = self._fault("continue")
            if refused is not None:
                return refused
            try:
                revision, after = json.loads(base64.b64decode(token))
            except ValueError:
                return 400, status(400, "continue key is not valid"), ()
            snapshot = self._snapshots.get(revision)
            if snapshot is None:
                return 410, status(410, _EXPIRED_CONTINUE), ()
        else:
            refused = self._fault("list")
            if refused is not None:
                return refused
            revision, snapshot = self._revision, self._slices
            if limit:
                self._snapshots[revision] = snapshot
        items = [
            obj
            for (ns, name), obj in sorted(snapshot.items())
            if ns == namespace and name > after and selector(_labels(obj))
        ]
        page = items[:limit] if limit else items
        metadata: Obj = {"resourceVersion": self._version(revision)}
        if len(page) < len(items):
            last = page[-1]["metadata"]["name"]
            metadata["continue"] = base64.b64encode(json.dumps([revision, last]).encode()).decode()
            metadata["remainingItemCount"] = len(items) - len(page)
        body = {
            "kind": "EndpointSliceList",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": metadata,
            # Typed lists carry no kind nor apiVersion on their items.
            "items": [
                {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}
                for obj in page
            ],
        }
        return 200, body, ()

    async def _watch(
        self,
        connection: h11.Connection,
        stream: trio.abc.Stream,
        namespace: str,
        query: Mapping[str, str],
    ) -> None:
        group = "discovery.k8s.io"
        refused = self._forbidden("watch", "endpointslices", group, namespace)
        refused = refused or self._fault("watch")
        if refused is not None:
            await _respond(connection, stream, refused)
            return
        try:
            selector = parse_selector(query.get("labelSelector", ""))
            seconds = float(query["timeoutSeconds"]) if "timeoutSeconds" in query else math.inf
        except ValueError as exc:
            await _respond(connection, stream, (400, status(400, str(exc)), ()))
            return
        version = query.get("resourceVersion") or None
        self.watch_starts.append(version)
        self._pulse()
        watcher = _Watcher(
            namespace,
            selector,
            query.get("allowWatchBookmarks") == "true",
            *trio.open_memory_channel[Obj | str | bytes](math.inf),
        )
        if version is None or version == "0":
            # "Get state and start at most recent": the objects as ADDED, then changes.
            for (ns, _), obj in sorted(self._slices.items()):
                if ns == namespace and selector(_labels(obj)):
                    watcher.send.send_nowait({"type": "ADDED", "object": obj})
        else:
            start = self._versions.get(version)
            if start is None or start < self._oldest:
                too_old = status(410, f"too old resource version: {version} ({self.version})")
                if self.expired_as_status:
                    await _respond(connection, stream, (410, too_old, ()))
                    return
                watcher.send.send_nowait({"type": "ERROR", "object": too_old})
            else:
                for change in self._history:
                    event = _event_for(watcher, change) if change.revision > start else None
                    if event is not None:
                        watcher.send.send_nowait(event)
        empty = self.empty_watches > 0
        self.empty_watches -= empty
        self._watchers.append(watcher)
        try:
            headers = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
            await _send(connection, stream, h11.Response(status_code=200, headers=headers))
            if not empty:
                await self._stream_events(connection, stream, watcher, seconds)
            if watcher.aborted or watcher.gone:
                raise _Abort
            await _send(connection, stream, h11.EndOfMessage())
        finally:
            self._watchers.remove(watcher)

    async def _stream_events(
        self, connection: h11.Connection, stream: trio.abc.Stream, watcher: _Watcher, seconds: float
    ) -> None:
        deadline = trio.current_time() + seconds

        async def notice_disconnect() -> None:
            # The client sends nothing during a watch: any read that returns means it left.
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.receive_some()
            watcher.gone = True
            watcher.scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(notice_disconnect)
            with watcher.scope:
                while True:
                    with trio.move_on_at(deadline) as timer:
                        item = await watcher.receive.receive()
                    if timer.cancelled_caught:
                        if watcher.bookmarks and self.bookmark_at_timeout:
                            await _send_line(connection, stream, watcher, self._bookmark())
                        break
                    if item == _CLOSE:
                        break
                    if item == _STALL:
                        watcher.stalled = True
                        await trio.sleep_forever()
                    assert not isinstance(item, str), f"unknown command {item!r}"
                    if not await _send_line(connection, stream, watcher, item):
                        break
                    if isinstance(item, dict) and item["type"] == "ERROR":
                        break  # an error ends the watch
            nursery.cancel_scope.cancel()


_Answer = tuple[int, Obj, tuple[tuple[str, str], ...]]


def _event_for(watcher: _Watcher, change: _Change) -> Obj | None:
    """The event a watcher sees for a change, through its namespace and selector."""
    if change.key[0] != watcher.namespace:
        return None
    was = change.old is not None and watcher.selector(_labels(change.old))
    now = change.new is not None and watcher.selector(_labels(change.new))
    if was and now:
        return {"type": "MODIFIED", "object": change.new}
    if now:
        return {"type": "ADDED", "object": change.new}
    if was:
        if change.tombstone is not None:
            return {"type": "DELETED", "object": change.tombstone}
        # Relabelled out of the selector: the watch cache sends it as deleted.
        assert change.new is not None
        return {"type": "DELETED", "object": change.new}
    return None


async def _read_request(connection: h11.Connection, stream: trio.abc.Stream) -> h11.Request | None:
    request: h11.Request | None = None
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(bytes(await stream.receive_some(65536)))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            return request
        elif isinstance(event, h11.ConnectionClosed):
            return None
        # h11.Data: a GET's body, ignored.


async def _send(connection: h11.Connection, stream: trio.abc.Stream, event: Any) -> None:
    data = connection.send(event)
    if data:
        await stream.send_all(data)


async def _send_line(
    connection: h11.Connection, stream: trio.abc.Stream, watcher: _Watcher, event: Obj | bytes
) -> bool:
    line = event if isinstance(event, bytes) else json.dumps(event).encode()
    try:
        await _send(connection, stream, h11.Data(data=line + b"\n"))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        watcher.gone = True
        return False
    return True


async def _respond(connection: h11.Connection, stream: trio.abc.Stream, answer: _Answer) -> None:
    code, body, extra = answer
    payload = json.dumps(body).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
        *extra,
    ]
    await _send(connection, stream, h11.Response(status_code=code, headers=headers))
    await _send(connection, stream, h11.Data(data=payload))
    await _send(connection, stream, h11.EndOfMessage())


@asynccontextmanager
async def open_fake_kubernetes(**fields: Any) -> AsyncIterator[FakeKubernetes]:
    """Serve a `FakeKubernetes` on 127.0.0.1 for the duration of the block."""
    server = FakeKubernetes(**fields)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        yield server
        nursery.cancel_scope.cancel()
