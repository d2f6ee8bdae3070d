"""`EndpointSliceDiscovery`: the endpoints of a Kubernetes Service, from its EndpointSlices.

It talks to the API server over httpx on Trio (no official client runs on Trio), the way
client-go's reflector does, and reads the slices the way kube-proxy does:

1. *Service*: ``GET /api/v1/namespaces/{ns}/services/{name}``. A 404 (a Kubernetes
   ``Status`` of reason ``NotFound``), or a Service being deleted (``deletionTimestamp``
   set), means the name does not exist: `DoesNotExist`. Slices alone cannot tell,
   since a Service without a selector, or one created a moment ago, has none. The
   Service also gives its ports, by which ``port`` is chosen. It is read again before
   each watch, and whenever the slices suggest that it changed (the last slice went,
   the first one came, or the slices' port names changed).
2. *List* ``GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices
   ?labelSelector=kubernetes.io/service-name={name}``, ``limit`` items a page, following
   ``continue`` tokens; every page comes from one snapshot, whose ``resourceVersion``
   the list returns. An expired token (410 Gone) restarts the list.
3. *Watch* from that version (``watch=1&allowWatchBookmarks=true&timeoutSeconds=...``):
   one JSON event a line, ``ADDED``, ``MODIFIED``, ``DELETED``, ``BOOKMARK`` or ``ERROR``.
   Each event's object carries the version to resume from; versions are opaque, only
   ever stored and sent back. The server ends a watch after ``timeoutSeconds``: the
   source watches again from the last version seen, bookmarks included, without
   listing and without touching the pool. A watch that ends at once without any event
   is a failure (client-go's "very short watch"), so a server that keeps doing that is
   retried with a backoff instead of in a busy loop.
4. *410 Gone*, as the watch's HTTP status or as an ``ERROR`` event whose ``Status`` has
   code 410, means that the version is older than the history the server keeps: list
   again (at once the first time, with a backoff if it happens again before a watch
   delivered anything) and yield only what changed meanwhile.

The endpoints are the union of all slices, deduplicated by ``(address, port)`` as
kube-proxy does (an endpoint moving between slices, or an IP reused by a new pod,
appears twice for a while; the ready, then the non-terminating copy wins, then the one
in the slice whose name sorts first). Of each endpoint, the first address counts (the
API says addresses are fungible and consumers may use the first only; kube-proxy
does). The ready endpoints are used (``ready`` true or unset); when none is, those
both serving and terminating (kube-proxy's fallback, which lets a rolling update
drain). With ``zone``, the ready endpoints hinted for that zone are preferred, under
kube-proxy's rule: only when every ready endpoint has zone hints and at least one
names the zone.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import re
import ssl
from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import trio

from .._backoff import Backoff
from .._update import Update
from . import _validate
from ._http import abandon
from ._meta import Meta
from ._metrics import DiscoveryMetrics, ErrorKind
from ._record import Address, BadRecord, InvalidDocument, decode_json
from ._retry import DEFAULT_BACKOFF, Retry, TransientError
from ._tracker import Tracker

try:
    import httpx
except ImportError as exc:  # the "httpx" extra is not installed
    _httpx_missing: ImportError | None = exc
else:
    _httpx_missing = None

__all__ = [
    "SERVICE_ACCOUNT_CA",
    "SERVICE_ACCOUNT_TOKEN",
    "SERVICE_NAME_LABEL",
    "EndpointSliceDiscovery",
]

logger = logging.getLogger("trio_pool.discovery.kubernetes")

SERVICE_ACCOUNT_TOKEN: Final = "/var/run/secrets/kubernetes.io/serviceaccount/token"
"""Where a pod finds its service account's token (unless ``automountServiceAccountToken``
is off)."""
SERVICE_ACCOUNT_CA: Final = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
"""Where a pod finds the CA certificate that signed the API server's certificate."""
SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
"""The label that ties an EndpointSlice to its Service."""

_SLICES_PATH = "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
_SERVICE_PATH = "/api/v1/namespaces/{namespace}/services/{service}"
# client-go's reflector calls a watch that ends within a second, without any event, a
# "very short watch": something is wrong, and watching again at once would spin.
_SHORT_WATCH = 1.0
_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")


def _check_service(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"service must be a str, got {value!r}")
    if len(value) > 63 or not _DNS_1035_LABEL.fullmatch(value):
        raise ValueError(
            f"service must be a Service name (a DNS-1035 label: lowercase letters, digits "
            f"and '-', starting with a letter, at most 63 characters), got {value!r}"
        )


def _check_namespace(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"namespace must be a str, got {value!r}")
    if len(value) > 63 or not _DNS_1123_LABEL.fullmatch(value):
        raise ValueError(f"namespace must be a namespace name (a DNS-1123 label), got {value!r}")


def _check_port(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, str):
        if not value:
            raise ValueError("port must be a port name, a number or None, got ''")
        if value.isdigit():
            raise ValueError(f"port {value!r} is a number: pass it as an int, port={value}")
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"port must be a str (a port name), an int or None, got {value!r}")
    if not 1 <= value <= 65535:
        raise ValueError(f"port must be from 1 to 65535, got {value!r}")


def _check_url(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError(f"url must be an http:// or https:// URL or None, got {value!r}")


def _check_zone(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"zone must be a zone name or None, got {value!r}")


def _optional_path(value: str | os.PathLike[str] | None) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"expected a path or None, got {value!r}")
    return Path(value)


def _check_page_size(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"page_size must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"page_size must be >= 1, got {value!r}")


def in_cluster_url(environ: Mapping[str, str]) -> str:
    """The API server's URL inside a pod, from ``KUBERNETES_SERVICE_HOST`` and ``_PORT``.

    Raises ``ValueError`` if either is missing, as outside a cluster.
    """
    host = environ.get("KUBERNETES_SERVICE_HOST", "")
    port = environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ValueError(
            "url=None means in cluster, but KUBERNETES_SERVICE_HOST and "
            "KUBERNETES_SERVICE_PORT are not both set: run in a pod, or pass url= "
            "(say url='http://127.0.0.1:8001' through `kubectl proxy`)"
        )
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"https://{host}:{port}"


@attrs.frozen
class EndpointSliceDiscovery:
    """The ready endpoints of the Kubernetes Service ``service``, from its EndpointSlices.

    ```python
    # In a pod: the service account's token and CA, the API server from the environment.
    EndpointSliceDiscovery("users", namespace="shop", port="http")
    # On a laptop, through `kubectl proxy` (which adds your credentials):
    EndpointSliceDiscovery("users", namespace="shop", url="http://127.0.0.1:8001")
    ```

    Addresses are ``(ip, port)``, IPv4 or IPv6, with the endpoint's own port number (the
    Service's target port). Targets are `Meta` with ``ready``, ``serving`` and
    ``terminating``, and when the slice gives them ``zone``, ``node_name``, ``hostname``
    and ``target_ref`` (``kind``, ``namespace``, ``name``: the pod).

    What the stream yields:

    - first a `Reset` with the endpoints, or `DoesNotExist` if the Service does not exist
      (a Service without endpoints is an empty `Reset`);
    - then what changes: an `Add` of new endpoints (and of those whose target changed),
      then a `Remove` of those gone; `DoesNotExist` when the Service is deleted, a `Reset`
      when it comes back. After a relist (410 Gone), only what changed meanwhile.

    Which endpoints (kube-proxy's rules; the discovery guide has the details):

    - ``port``: a name picks the Service port of that name; a number, the Service port
      of that number; ``None``, the Service's only port. The endpoint's address takes
      that port's number in its slice (the target port, which may differ from slice to
      slice). When the port cannot be chosen (no such port, or several and
      ``port=None``), an ``invalid`` error is logged naming the Service's ports; the
      port chosen before, if any, is kept, else there are no endpoints.
    - ready endpoints (``ready`` true or unset); when none is ready, those serving and
      terminating, dropped again once one is ready.
    - with ``zone``, only ready endpoints whose hints (``hints.forZones``) name it, but
      only when every ready endpoint has zone hints and at least one names the zone.
    - the union of all the Service's slices, one endpoint per ``(address, port)``.
    - slices of ``addressType`` ``FQDN`` are skipped (logged and counted once per slice):
      connecting to names is the job of `DnsDiscovery`.

    What it never does is end, or let a failure empty the pool: a malformed slice or
    endpoint is skipped as a ``bad_record`` (a slice keeps its last good version); a
    request that fails (``unavailable``, ``timeout``), is throttled (429, honouring
    ``Retry-After``), or is refused (``unauthorized``: 401, 403, no token file) keeps the
    last set and is retried after ``backoff``.

    Credentials: with ``url=None`` (in a pod), the API server is
    ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``, verified with the
    service account's CA, and requests carry its token (``token_file`` and ``ca_file``
    override both paths). The token file is read before every request, so a rotated
    token (kubelet rewrites it well before it expires) is used from the next request
    on; a 401 is retried at once if the file holds another token by then. With a
    ``url``, only ``token_file`` and ``ca_file`` given are used: none through
    ``kubectl proxy``. The service account needs ``get`` on ``services`` and ``get``,
    ``list`` and ``watch`` on ``endpointslices`` in the namespace.

    Each iteration (each ``async for``) opens its own HTTP client and starts with a
    `Reset`. Proxy environment variables are ignored. Arguments after ``service`` are
    keyword-only.

    Raises:
        ImportError: httpx is missing (install ``trio-pool[httpx]``).
        ValueError: ``url=None`` outside a cluster (the environment variables are
            missing), or an argument is out of range.
        TypeError: an argument is of the wrong type.
    """

    service: str = attrs.field(validator=_check_service)
    """The Service's name."""
    namespace: str = attrs.field(default="default", kw_only=True, validator=_check_namespace)
    """The Service's namespace (``"default"`` unless given, even in a pod of another one)."""
    port: str | int | None = attrs.field(default=None, kw_only=True, validator=_check_port)
    """The Service port: its name, its number, or ``None`` for its only port."""
    url: str | None = attrs.field(default=None, kw_only=True, validator=_check_url)
    """The API server, say ``"http://127.0.0.1:8001"`` (``kubectl proxy``); ``None`` in a pod."""
    token_file: Path | None = attrs.field(default=None, kw_only=True, converter=_optional_path)
    """A file holding the bearer token; the service account's by default in a pod."""
    ca_file: Path | None = attrs.field(default=None, kw_only=True, converter=_optional_path)
    """A PEM file of CA certificates for an https API server; the service account's by
    default in a pod, else the trust store httpx uses."""
    zone: str | None = attrs.field(default=None, kw_only=True, validator=_check_zone)
    """The zone of this client, to prefer endpoints hinted for it; ``None`` for all."""
    timeout: float = attrs.field(default=10.0, kw_only=True, validator=_validate.positive)
    """Connect, read and write timeout of each request, in seconds; a watch may be
    silent for its whole ``timeoutSeconds``, and gets this much more."""
    watch_timeout: float = attrs.field(default=300.0, kw_only=True, validator=_validate.positive)
    """Each watch asks the server to end it after a random time between this and twice
    this, in seconds (as client-go does), so that clients started together do not all
    watch again together."""
    page_size: int = attrs.field(default=500, kw_only=True, validator=_check_page_size)
    """Slices a list page holds (``limit``)."""
    backoff: Backoff = attrs.field(
        default=DEFAULT_BACKOFF, kw_only=True, validator=_validate.backoff
    )
    """Delays between retries after failures."""
    rng: random.Random | None = attrs.field(default=None, kw_only=True, eq=False)
    """Randomness for the backoff's jitter and the watch timeouts, for reproducible runs."""
    metrics: DiscoveryMetrics | None = attrs.field(
        default=None, kw_only=True, validator=_validate.metrics
    )
    """Counts updates and errors under ``source="kubernetes"``, or ``None``."""
    _api_url: str = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if _httpx_missing is not None:
            raise ImportError(
                "EndpointSliceDiscovery needs httpx: install trio-pool[httpx]"
            ) from _httpx_missing
        url = in_cluster_url(os.environ) if self.url is None else self.url.rstrip("/")
        object.__setattr__(self, "_api_url", url)

    @property
    def api_url(self) -> str:
        """The API server this source talks to: ``url``, or the in-cluster one."""
        return self._api_url

    @property
    def token_path(self) -> Path | None:
        """The token file read before each request, or ``None`` to send no token."""
        if self.token_file is None and self.url is None:
            return Path(SERVICE_ACCOUNT_TOKEN)
        return self.token_file

    @property
    def ca_path(self) -> Path | None:
        """The CA file that verifies the API server, or ``None`` for httpx's default."""
        if self.ca_file is None and self.url is None:
            return Path(SERVICE_ACCOUNT_CA)
        return self.ca_file

    def __aiter__(self) -> AsyncGenerator[Update, None]:
        return self._updates()

    def _verify(self) -> ssl.SSLContext | bool:
        ca = self.ca_path
        if ca is None or not self._api_url.startswith("https://"):
            return True
        return ssl.create_default_context(cafile=os.fspath(ca))

    async def _updates(self) -> AsyncGenerator[Update, None]:
        name = f"service {self.namespace}/{self.service}"
        tracker = Tracker("kubernetes", name, logger, self.metrics)
        rng = self.rng if self.rng is not None else random.Random()
        retry = Retry(self.backoff, rng)
        state = _State(tracker, self.service, self.port, self.zone)
        while True:
            try:
                verify = self._verify()
                break
            except (OSError, ssl.SSLError) as exc:
                delay = retry.failed()
                tracker.error(
                    "unavailable", f"cannot load the CA file {self.ca_path}: {exc}", retry_in=delay
                )
                await trio.sleep(delay)
        async with httpx.AsyncClient(
            base_url=self._api_url,
            verify=verify,
            timeout=httpx.Timeout(self.timeout),
            trust_env=False,
            headers={"Accept": "application/json", "User-Agent": "trio-pool"},
        ) as client:
            api = _Api(client, self, tracker)
            expired_in_a_row = 0
            while True:
                try:
                    await api.check_service(state)
                    if state.version is None:
                        items, version = await api.list_slices()
                        state.listed(items, version)
                    for update in state.updates():
                        yield update
                    seconds = max(1, int(self.watch_timeout * (1.0 + rng.random())))
                    response = await api.send(
                        api.slices_path,
                        {
                            "labelSelector": api.selector,
                            "watch": "1",
                            "resourceVersion": state.version,
                            "allowWatchBookmarks": "true",
                            "timeoutSeconds": str(seconds),
                        },
                        stream=True,
                        read_timeout=seconds + self.timeout,
                    )
                    started = trio.current_time()
                    received = 0
                    lines = response.aiter_lines()
                    try:
                        await _check_status(response, "watch endpointslices", api.forbidden_hint)
                        async for line in lines:
                            if not line.strip():
                                continue
                            changed = state.apply(_json_object(line, "a watch event"))
                            received += 1
                            expired_in_a_row = 0
                            if retry.succeeded():
                                tracker.logger.info("%s: watching again", tracker.name)
                            if changed:
                                await api.check_service(state)
                            for update in state.updates():
                                yield update
                    finally:
                        await abandon(lines)
                        await response.aclose()
                    if not received and trio.current_time() - started < _SHORT_WATCH:
                        raise TransientError(
                            "unavailable", "the watch ended at once, without any event"
                        )
                    # A normal end (timeoutSeconds): watch again from the last version.
                    if retry.succeeded():
                        tracker.logger.info("%s: watching again", tracker.name)
                    tracker.logger.debug("%s: the watch ended; watching again", tracker.name)
                    continue
                except _Expired as exc:
                    state.version = None
                    expired_in_a_row += 1
                    if expired_in_a_row == 1:
                        tracker.error("compacted", f"{exc}; listing again")
                        continue
                    failure: tuple[ErrorKind, str] = ("compacted", str(exc))
                    retry_after: float | None = None
                except TransientError as exc:
                    failure = (exc.kind, exc.message)
                    retry_after = exc.retry_after if isinstance(exc, _ApiError) else None
                except httpx.TimeoutException as exc:
                    failure = ("timeout", f"request timed out: {_reasons(exc)}")
                    retry_after = None
                except (httpx.HTTPError, OSError) as exc:
                    failure = ("unavailable", f"request failed: {_reasons(exc)}")
                    retry_after = None
                delay = retry.failed()
                if retry_after is not None:
                    delay = max(delay, min(retry_after, self.backoff.maximum))
                tracker.error(*failure, retry_in=delay)
                await trio.sleep(delay)


class _Expired(Exception):
    """The version or continue token is older than the history the server keeps (410)."""


class _ApiError(TransientError):
    """A failed request, with the server's ``Retry-After`` (429, 503), if it gave one."""

    def __init__(self, kind: ErrorKind, message: str, retry_after: float | None) -> None:
        super().__init__(kind, message)
        self.retry_after = retry_after


@attrs.define(eq=False)
class _Api:
    """The requests one iteration makes, with its token."""

    client: httpx.AsyncClient
    source: EndpointSliceDiscovery
    tracker: Tracker

    @property
    def selector(self) -> str:
        return f"{SERVICE_NAME_LABEL}={self.source.service}"

    @property
    def slices_path(self) -> str:
        return _SLICES_PATH.format(namespace=self.source.namespace)

    def forbidden_hint(self, action: str) -> str:
        verb, _, resource = action.partition(" ")
        return (
            f"; the service account needs {verb} on {resource} in namespace "
            f"{self.source.namespace} (a Role and a RoleBinding: see the discovery docs)"
        )

    def _token(self) -> str | None:
        path = self.source.token_path
        if path is None:
            return None
        # A small file on a tmpfs (a projected volume in a pod): read it in the Trio
        # thread. A worker thread would let a MockClock jump ahead while it reads.
        try:
            token = path.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise TransientError(
                "unauthorized", f"cannot read the token file {path}: {exc}"
            ) from None
        if not token:
            raise TransientError("unauthorized", f"the token file {path} is empty")
        return token

    async def send(
        self,
        path: str,
        params: Mapping[str, str | None],
        *,
        stream: bool = False,
        read_timeout: float | None = None,
    ) -> httpx.Response:
        """Send a GET; a 401 is sent again once if the token file changed meanwhile."""
        query = {key: value for key, value in params.items() if value is not None}
        refused: str | None = None
        while True:
            token = self._token()
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            request = self.client.build_request("GET", path, params=query, headers=headers)
            if read_timeout is not None:
                timeout = httpx.Timeout(self.source.timeout, read=read_timeout)
                request.extensions["timeout"] = timeout.as_dict()
            response = await self.client.send(request, stream=stream)
            if response.status_code != 401 or token is None or refused is not None:
                return response
            try:
                fresh = self._token()
            except TransientError:
                fresh = None
            if fresh is None or fresh == token:
                return response  # the caller reports the 401, with its Status
            await response.aclose()
            refused = token
            self.tracker.logger.info(
                "%s: the token was refused (401), and %s holds another one: retrying with it",
                self.tracker.name,
                self.source.token_path,
            )

    async def check_service(self, state: _State) -> None:
        path = _SERVICE_PATH.format(namespace=self.source.namespace, service=self.source.service)
        response = await self.send(path, {})
        if response.status_code == 404:
            status = _status(response.content)
            if status.get("kind") == "Status" and status.get("reason") == "NotFound":
                state.service_missing()
                return
            raise TransientError(
                "unavailable",
                f"get services: 404 from a server that does not speak the Kubernetes API "
                f"(is url right?): {_excerpt(response.content)}",
            )
        await _check_status(response, "get services", self.forbidden_hint)
        state.service_found(_json_object(response.content, "the Service"))

    async def list_slices(self) -> tuple[list[Any], str]:
        """Every slice of the Service, page after page of one snapshot, and its version."""
        items: list[Any] = []
        token: str | None = None
        while True:
            params = {
                "labelSelector": self.selector,
                "limit": str(self.source.page_size),
                "continue": token,
            }
            response = await self.send(self.slices_path, params)
            if response.status_code == 410 and token is not None:
                raise _Expired(
                    f"the list's continue token expired after {len(items)} slices "
                    f"({_status_message(response.content)})"
                )
            await _check_status(response, "list endpointslices", self.forbidden_hint)
            body = _json_object(response.content, "the list of slices")
            metadata = body.get("metadata")
            if not isinstance(metadata, dict):
                raise TransientError("invalid", "the list of slices has no metadata")
            version = metadata.get("resourceVersion")
            if not isinstance(version, str) or not version:
                raise TransientError("invalid", "the list of slices has no resourceVersion")
            page = body.get("items") or []
            if not isinstance(page, list):
                raise TransientError("invalid", "the list of slices: items is not a list")
            items.extend(page)
            token = metadata.get("continue") or None
            if token is None:
                return items, version
            if not isinstance(token, str):
                raise TransientError("invalid", f"the list's continue token is {token!r}")


@attrs.frozen
class _ServicePort:
    name: str
    number: int
    protocol: str
    target: object

    def __str__(self) -> str:
        target = "" if self.target in (None, self.number) else f" -> {self.target}"
        return f"{self.name!r} ({self.number}/{self.protocol}{target})"


@attrs.frozen
class _Endpoint:
    address: str
    ready: bool
    serving: bool
    terminating: bool
    zones: frozenset[str]
    meta: Meta

    @property
    def rank(self) -> tuple[bool, bool]:
        """Which of two copies of one endpoint wins: the ready, then the non-terminating."""
        return (self.ready, not self.terminating)


@attrs.frozen
class _Slice:
    address_type: str
    ports: Mapping[str, int]
    """Port number by port name (``""`` for the unnamed port of a one-port Service)."""
    endpoints: tuple[_Endpoint, ...]


@attrs.define(eq=False)
class _State:
    """What one iteration knows: the Service, its slices, and the version they reflect."""

    tracker: Tracker
    service: str
    port: str | int | None
    zone: str | None
    version: str | None = None
    """The resourceVersion the slices reflect; ``None`` until listed (and after a 410)."""
    exists: bool | None = None
    """Whether the Service exists, as of the last look; ``None`` before."""
    slices: dict[str, _Slice] = attrs.field(factory=dict)
    port_name: str | None = None
    """The name of the chosen Service port, once chosen."""
    _ports: tuple[_ServicePort, ...] = ()
    _port_problem: str | None = None
    _fqdn: set[str] = attrs.field(factory=set)

    # -- the Service --------------------------------------------------------------

    def service_missing(self) -> None:
        if self.exists is not False:
            self.tracker.logger.info("%s: the Service does not exist", self.tracker.name)
        self.exists = False
        self.port_name = None
        self._port_problem = None

    def service_found(self, service: dict[str, Any]) -> None:
        metadata = service.get("metadata")
        if isinstance(metadata, dict) and metadata.get("deletionTimestamp"):
            self.service_missing()  # being deleted: as good as gone
            return
        spec = service.get("spec")
        raw_ports = spec.get("ports") if isinstance(spec, dict) else None
        if not isinstance(raw_ports, list | None):
            raise TransientError("invalid", "the Service's spec.ports is not a list")
        ports: list[_ServicePort] = []
        for raw in raw_ports or []:
            number = raw.get("port") if isinstance(raw, dict) else None
            if isinstance(number, bool) or not isinstance(number, int):
                raise TransientError("invalid", f"the Service has a malformed port: {raw!r}")
            ports.append(
                _ServicePort(
                    str(raw.get("name") or ""),
                    number,
                    str(raw.get("protocol") or "TCP"),
                    raw.get("targetPort"),
                )
            )
        self.exists = True
        self._ports = tuple(ports)
        name, problem = self._choose_port()
        if problem is None:
            if name != self.port_name:
                self.tracker.logger.info("%s: using the Service port %r", self.tracker.name, name)
            self._port_problem = None
            self.port_name = name
            return
        if self.port_name is not None:
            problem += f"; keeping port {self.port_name!r}, chosen before"
        if problem != self._port_problem:
            self._port_problem = problem
            self.tracker.error("invalid", problem)

    def _choose_port(self) -> tuple[str | None, str | None]:
        """The name of the Service port ``port`` means, or why there is none."""
        ports = self._ports
        choices = ", ".join(str(p) for p in ports)
        if self.port is None:
            matching = list(ports)
            problem = (
                f"the Service has {len(ports)} ports: {choices}; pass port= one of them "
                f"(its name or number)"
            )
        elif isinstance(self.port, str):
            matching = [p for p in ports if p.name == self.port]
            problem = f"the Service has no port named {self.port!r}; its ports: {choices}"
        else:
            matching = [p for p in ports if p.number == self.port]
            if len(matching) > 1:  # one number for TCP and UDP, say: TCP is what we speak
                matching = [p for p in matching if p.protocol == "TCP"]
            problem = f"the Service has no port numbered {self.port}; its ports: {choices}"
        if not ports:
            problem = "the Service has no ports"
        if len(matching) == 1:
            return matching[0].name, None
        return None, problem

    # -- the slices ---------------------------------------------------------------

    def listed(self, items: list[Any], version: str) -> None:
        """Take a list's slices as the whole set, at ``version``."""
        # A slice whose new version is malformed keeps its last good version across a
        # list too, as it does while watching.
        previous, self.slices = self.slices, {}
        for item in items:
            self._put(item, previous)
        self.version = version

    def apply(self, event: dict[str, Any]) -> bool:
        """Apply one watch event; return whether the Service should be looked at again.

        Raises `_Expired` for a 410 ``ERROR`` event, `TransientError` for another one or
        for an event that cannot be read (the watch resumes from the last good one).
        """
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise TransientError("invalid", f"a watch event without an object: {kind!r}")
        if kind == "ERROR":
            code = obj.get("code")
            message = _status_text(obj)
            if code == 410:
                raise _Expired(f"the watch's resourceVersion expired ({message})")
            raise TransientError("unavailable", f"the watch failed: {message}")
        metadata = obj.get("metadata")
        version = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
        if not isinstance(version, str) or not version:
            raise TransientError("invalid", f"a {kind} event without a resourceVersion")
        before = self._shape()
        if kind in ("ADDED", "MODIFIED"):
            self._put(obj, self.slices)
        elif kind == "DELETED":
            name = metadata.get("name") if isinstance(metadata, dict) else None
            if isinstance(name, str):
                self.slices.pop(name, None)
        elif kind != "BOOKMARK":
            self.tracker.bad_record(f"a watch event of type {kind!r}", "unknown type")
        self.version = version
        return self._shape() != before or (self.exists is False and kind in ("ADDED", "MODIFIED"))

    def _shape(self) -> tuple[bool, frozenset[str]]:
        """What, when it changes, suggests that the Service changed: whether it has
        slices, and the names of their ports."""
        return bool(self.slices), frozenset(n for s in self.slices.values() for n in s.ports)

    def _put(self, obj: object, previous: Mapping[str, _Slice]) -> None:
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(obj, dict) or not isinstance(name, str) or not name:
            self.tracker.bad_record("a slice", "no metadata.name")
            return
        assert isinstance(metadata, dict)
        labels = metadata.get("labels")
        if not isinstance(labels, dict) or labels.get(SERVICE_NAME_LABEL) != self.service:
            self.slices.pop(name, None)  # relabelled away from this Service
            return
        where = f"slice {name!r}"
        try:
            parsed = _parse_slice(obj, where, self.tracker.bad_record)
        except BadRecord as exc:
            last_good = previous.get(name)
            if last_good is not None:
                self.slices[name] = last_good
            kept = "; its last good version stays" if last_good is not None else ""
            self.tracker.bad_record(where, f"{exc}{kept}")
            return
        if parsed.address_type == "FQDN" and name not in self._fqdn:
            self._fqdn.add(name)
            self.tracker.bad_record(
                where, "its addresses are FQDNs, which this source does not resolve"
            )
        self.slices[name] = parsed

    # -- what the pool gets -------------------------------------------------------

    def updates(self) -> list[Update]:
        if self.exists is False:
            return self.tracker.does_not_exist()
        return self.tracker.changes(self.endpoints())

    def endpoints(self) -> dict[Address, Meta]:
        """The endpoints to use, by kube-proxy's rules (see the module notes)."""
        if self.port_name is None:
            return {}
        best: dict[Address, _Endpoint] = {}
        for slice_name in sorted(self.slices):
            found = self.slices[slice_name]
            number = found.ports.get(self.port_name)
            if number is None:
                continue
            for endpoint in found.endpoints:
                address = (endpoint.address, number)
                held = best.get(address)
                if held is None or endpoint.rank > held.rank:
                    best[address] = endpoint
        chosen = {a: e for a, e in best.items() if e.ready}
        if not chosen:
            chosen = {a: e for a, e in best.items() if e.serving and e.terminating}
        elif (
            self.zone is not None
            and all(e.zones for e in chosen.values())
            and any(self.zone in e.zones for e in chosen.values())
        ):
            chosen = {a: e for a, e in chosen.items() if self.zone in e.zones}
        return {address: endpoint.meta for address, endpoint in chosen.items()}


def _parse_slice(obj: dict[str, Any], where: str, bad: Callable[[str, str], None]) -> _Slice:
    """One EndpointSlice; raise `BadRecord` if it is unusable as a whole, report
    (through ``bad``) the ports and endpoints that are skipped."""
    address_type = obj.get("addressType")
    if address_type not in _ADDRESS_TYPES:
        raise BadRecord(f"addressType must be IPv4, IPv6 or FQDN, got {address_type!r}")
    raw_ports = obj.get("ports") or []
    raw_endpoints = obj.get("endpoints") or []
    if not isinstance(raw_ports, list):
        raise BadRecord("ports is not a list")
    if not isinstance(raw_endpoints, list):
        raise BadRecord("endpoints is not a list")
    ports: dict[str, int] = {}
    for index, raw in enumerate(raw_ports):
        try:
            name, number = _parse_port(raw)
        except BadRecord as exc:
            bad(f"{where} ports[{index}]", str(exc))
            continue
        if name in ports:
            bad(f"{where} ports[{index}]", f"a second port named {name!r}")
            continue
        ports[name] = number
    if address_type == "FQDN":
        return _Slice(address_type, ports, ())
    endpoints: list[_Endpoint] = []
    for index, raw in enumerate(raw_endpoints):
        try:
            endpoints.append(_parse_endpoint(raw, address_type))
        except BadRecord as exc:
            bad(f"{where} endpoints[{index}]", str(exc))
    return _Slice(address_type, ports, tuple(endpoints))


def _parse_port(raw: object) -> tuple[str, int]:
    if not isinstance(raw, dict):
        raise BadRecord("not an object")
    name = raw.get("name") or ""
    if not isinstance(name, str):
        raise BadRecord(f"name must be a string, got {name!r}")
    number = raw.get("port")
    if number is None:
        # "All ports", in the API's words: there is no number to connect to.
        raise BadRecord(f"port {name!r} has no number")
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
        raise BadRecord(f"port {name!r} must be a number from 1 to 65535, got {number!r}")
    return name, number


def _parse_endpoint(raw: object, address_type: str) -> _Endpoint:
    if not isinstance(raw, dict):
        raise BadRecord("not an object")
    addresses = raw.get("addresses")
    if not isinstance(addresses, list) or not addresses:
        raise BadRecord("no addresses")
    first = addresses[0]
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = (
            ipaddress.IPv4Address(first) if address_type == "IPv4" else ipaddress.IPv6Address(first)
        )
    except ValueError:
        raise BadRecord(f"{first!r} is not an {address_type} address") from None
    conditions = raw.get("conditions") or {}
    if not isinstance(conditions, dict):
        raise BadRecord("conditions is not an object")
    # The API: ready unset means ready; serving unset defers to ready; terminating
    # unset means not terminating.
    ready = _condition(conditions, "ready", True)
    serving = _condition(conditions, "serving", ready)
    terminating = _condition(conditions, "terminating", False)
    meta: dict[str, Any] = {"ready": ready, "serving": serving, "terminating": terminating}
    for key, field in (("zone", "zone"), ("node_name", "nodeName"), ("hostname", "hostname")):
        value = raw.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadRecord(f"{field} must be a string, got {value!r}")
        meta[key] = value
    target_ref = raw.get("targetRef")
    if isinstance(target_ref, dict):
        meta["target_ref"] = {
            key: target_ref[key]
            for key in ("kind", "namespace", "name")
            if isinstance(target_ref.get(key), str)
        }
    return _Endpoint(str(ip), ready, serving, terminating, _zone_hints(raw), Meta(meta))


def _condition(conditions: dict[str, Any], name: str, default: bool) -> bool:
    value = conditions.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRecord(f"conditions.{name} must be a boolean or null, got {value!r}")
    return value


def _zone_hints(raw: dict[str, Any]) -> frozenset[str]:
    hints = raw.get("hints") or {}
    zones = hints.get("forZones") if isinstance(hints, dict) else None
    if zones is None:
        return frozenset()
    if not isinstance(zones, list) or not all(
        isinstance(z, dict) and isinstance(z.get("name"), str) for z in zones
    ):
        raise BadRecord(f"hints.forZones must be a list of {{'name': zone}}, got {zones!r}")
    return frozenset(z["name"] for z in zones)


async def _check_status(
    response: httpx.Response, action: str, forbidden_hint: Callable[[str], str]
) -> None:
    """Raise for a response that is not a success: `_Expired` for 410, `TransientError`
    (`_ApiError` with the ``Retry-After``) for the others."""
    code = response.status_code
    if 200 <= code < 300:
        return
    body = await response.aread()
    text = f"{action}: HTTP {code} ({_status_message(body)})"
    if code == 410:
        raise _Expired(text)
    if code == 401:
        raise TransientError("unauthorized", f"{text}: the credentials were refused")
    if code == 403:
        raise TransientError("unauthorized", text + forbidden_hint(action))
    raise _ApiError("unavailable", text, _retry_after(response))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return None  # absent, or an HTTP date, which the API server never sends
    return seconds if seconds >= 0 else None


def _status(body: bytes) -> dict[str, Any]:
    """The Kubernetes ``Status`` object of an error response, or ``{}``."""
    try:
        value = decode_json(body)
    except InvalidDocument:
        return {}
    return value if isinstance(value, dict) else {}


def _status_text(status: dict[str, Any]) -> str:
    parts = [str(status[key]) for key in ("code", "reason", "message") if status.get(key)]
    return ": ".join(parts) or "no status given"


def _status_message(body: bytes) -> str:
    status = _status(body)
    if status.get("kind") == "Status":
        return _status_text(status)
    return _excerpt(body) or "an empty body"


def _excerpt(body: bytes) -> str:
    return body[:200].decode("utf-8", "replace").strip()


def _reasons(exc: BaseException) -> str:
    """``exc`` and what caused it: httpx wraps the reason a TLS handshake or a connection
    failed (a certificate that does not verify, say) a few exceptions deep."""
    reasons = [f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__]
    current = exc.__cause__ or exc.__context__
    for _ in range(8):
        if current is None:
            break
        reason = f"{type(current).__name__}: {current}"
        if str(current) and reason not in reasons:  # wrappers often repeat, or say nothing
            reasons.append(reason)
        current = current.__cause__ or current.__context__
    return "; from ".join(reasons)


def _json_object(data: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = decode_json(data.encode() if isinstance(data, str) else data)
    except InvalidDocument as exc:
        raise TransientError("invalid", f"{what} is {exc}") from None
    if not isinstance(value, dict):
        raise TransientError("invalid", f"{what} is not a JSON object")
    return value
