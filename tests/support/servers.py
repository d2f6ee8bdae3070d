"""Real servers for the discovery tests: dnsmasq and etcd on 127.0.0.1, on free ports.

Each server runs from a temporary directory, in the foreground, and is stopped after
its test. A missing binary skips the test with the reason, unless the environment sets
``TRIO_POOL_REQUIRE_SERVERS=1`` (as CI does, after installing them): then it fails.

Starting and stopping block (a process, a readiness probe), so tests call them through
``trio.to_thread.run_sync``. `TcpProxy` sits between a client and a server and cuts
their connections on demand: a dropped connection without a stopped server.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import dns.exception
import dns.message
import dns.query
import httpx
import pytest
import trio

REQUIRE_SERVERS = "TRIO_POOL_REQUIRE_SERVERS"
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"]
)
_START_TIMEOUT = 15.0


NOT_INSTALLED = "not installed (Debian package"
INSTALL_HINT = "sudo apt-get install dnsmasq etcd-server"


def skip_summary(reasons: Iterable[str]) -> str | None:
    """The line that ends a run where servers were missing: how many tests it cost, and
    how to install them; None when none was missing. ``reasons`` are the run's skips'."""
    missing = [r for r in reasons if NOT_INSTALLED in r]
    if not missing:
        return None
    names = sorted({r.split(" is ", 1)[0].rsplit(" ", 1)[-1] for r in missing})
    return (
        f"{len(missing)} tests skipped: {' and '.join(names)} not installed; "
        f"the discovery tests run against real servers: {INSTALL_HINT}"
    )


def find_binary(name: str, package: str) -> str:
    """The path of ``name``; skip the test if it is missing (fail if servers are required)."""
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        reason = f"{name} is {NOT_INSTALLED} {package})"
        if os.environ.get(REQUIRE_SERVERS) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_SERVERS}=1 requires it", pytrace=False)
        pytest.skip(reason)
    return path


def free_port(*, udp: bool = False) -> int:
    """A port free on 127.0.0.1 for TCP (and UDP too, with ``udp``), just now."""
    for _ in range(100):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
        if udp:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
                try:
                    datagram.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port found")


def _wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, what: str
) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {_START_TIMEOUT} s:\n{log.read_text()}")
        time.sleep(0.01)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


# -- dnsmasq --------------------------------------------------------------------------


@attrs.define(eq=False)
class Dnsmasq:
    """A dnsmasq serving the ``test`` domain only (other names are refused).

    A records come from a hosts file: `set_hosts` then `reload` (SIGHUP). SRV records
    come from the configuration file, which dnsmasq reads only at start: `set_srv`, then
    `restart`. Records have a TTL of 0.

    Every version of the hosts file also gives ``generation.test`` an address that
    encodes the version, so that `reload` can wait until dnsmasq serves the new one.
    """

    binary: str
    directory: Path
    port: int = attrs.field(factory=lambda: free_port(udp=True))
    _process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None
    _hosts: list[tuple[str, str]] = attrs.field(factory=list)
    _srv: list[str] = attrs.field(factory=list)
    _generation: int = 0

    @classmethod
    @contextlib.contextmanager
    def running(cls, directory: Path) -> Iterator[Dnsmasq]:
        server = cls(find_binary("dnsmasq", "dnsmasq"), directory)
        server._write()
        server.start()
        try:
            yield server
        finally:
            server.stop()

    @property
    def log_path(self) -> Path:
        return self.directory / "dnsmasq.log"

    def set_hosts(self, hosts: Iterable[tuple[str, str]]) -> None:
        """Serve exactly these ``(address, name)`` records (after `reload`)."""
        self._hosts = list(hosts)
        self._generation += 1
        self._write()

    @property
    def _generation_address(self) -> str:
        return f"127.255.{self._generation // 256 % 256}.{self._generation % 256}"

    def set_srv(self, records: Iterable[str]) -> None:
        """Serve these ``--srv-host`` values, ``name,target,port[,priority,weight]``,
        after a `restart`."""
        self._srv = list(records)
        self._write()

    def _write(self) -> None:
        hosts = [*self._hosts, (self._generation_address, "generation.test")]
        _write_atomically(self.directory / "hosts", "".join(f"{ip} {name}\n" for ip, name in hosts))
        _write_atomically(
            self.directory / "dnsmasq.conf", "".join(f"srv-host={r}\n" for r in self._srv)
        )

    def start(self) -> None:
        assert self._process is None, "dnsmasq is already running"
        command = [
            self.binary,
            "--no-daemon",
            f"--port={self.port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--local=/test/",
            "--local-ttl=0",
            "--pid-file=",
            f"--addn-hosts={self.directory / 'hosts'}",
            f"--conf-file={self.directory / 'dnsmasq.conf'}",
        ]
        if os.geteuid() == 0:
            # Stay root: dnsmasq would otherwise drop to a user who cannot read the
            # temporary directory, and fail to reload the hosts file.
            command += ["--user=root", "--group=root"]
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        _wait_until(self._serves_this_generation, self._process, self.log_path, "dnsmasq")

    def _serves_this_generation(self) -> bool:
        query = dns.message.make_query("generation.test.", "A")
        try:
            response = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.05)
        except (dns.exception.DNSException, OSError):
            return False
        served = {rdata.to_text() for rrset in response.answer for rdata in rrset}
        return served == {self._generation_address}

    def reload(self) -> None:
        """Read the hosts file again (SIGHUP), and wait until dnsmasq serves it."""
        assert self._process is not None, "dnsmasq is not running"
        self._process.send_signal(signal.SIGHUP)
        _wait_until(self._serves_this_generation, self._process, self.log_path, "dnsmasq")

    def stop(self) -> None:
        if self._process is not None:
            _stop(self._process)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()


# -- etcd -----------------------------------------------------------------------------


@attrs.define(eq=False)
class Etcd:
    """A single-member etcd with its data in a temporary directory."""

    binary: str
    directory: Path
    client_port: int = attrs.field(factory=free_port)
    peer_port: int = attrs.field(factory=free_port)
    _process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def running(cls, directory: Path) -> Iterator[Etcd]:
        server = cls(find_binary("etcd", "etcd-server"), directory)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "etcd.log"

    def start(self) -> None:
        assert self._process is None, "etcd is already running"
        client = self.url
        peer = f"http://127.0.0.1:{self.peer_port}"
        command = [
            self.binary,
            "--name=test",
            f"--data-dir={self.directory / 'data'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=test={peer}",
            # A single member elects itself after one election timeout: keep it short.
            "--heartbeat-interval=10",
            "--election-timeout=50",
            "--logger=zap",
            "--log-level=error",
        ]
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        _wait_until(self._healthy, self._process, self.log_path, "etcd")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as response:
                return bool(json.load(response).get("health") == "true")
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def stop(self) -> None:
        if self._process is not None:
            _stop(self._process)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, *, wipe: bool = False) -> None:
        """Stop and start again; with ``wipe``, from an empty data directory (a new cluster)."""
        self.stop()
        if wipe:
            shutil.rmtree(self.directory / "data")
        self.start()


def _b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


@attrs.define(eq=False)
class EtcdClient:
    """Writes to etcd through its JSON gateway, for tests to change what a source sees."""

    url: str

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, trust_env=False) as client:
            response = await client.post(path, json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def put(self, key: str, value: object) -> int:
        """Store ``value`` (bytes as they are, anything else as JSON); return the revision."""
        data = value if isinstance(value, bytes) else json.dumps(value).encode()
        result = await self._post("/v3/kv/put", {"key": _b64(key), "value": _b64(data)})
        return int(result["header"]["revision"])

    async def delete(self, key: str) -> int:
        result = await self._post("/v3/kv/deleterange", {"key": _b64(key)})
        return int(result["header"]["revision"])

    async def compact(self) -> int:
        """Compact the history up to the current revision; return it."""
        result = await self._post("/v3/kv/range", {"key": _b64("\0"), "limit": 1})
        revision = int(result["header"]["revision"])
        await self._post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision


# -- a proxy that drops connections ---------------------------------------------------


@attrs.define(eq=False)
class TcpProxy:
    """Forwards TCP connections to ``target_port``; `cut` drops them all and refuses new
    ones (accepts and closes them) until `restore`."""

    target_port: int
    port: int = 0
    _cut: bool = False
    _connections: set[trio.CancelScope] = attrs.field(factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._forward, listeners)

    def cut(self) -> None:
        self._cut = True
        for scope in self._connections:
            scope.cancel()

    def restore(self) -> None:
        self._cut = False

    async def _forward(self, client: trio.SocketStream) -> None:
        async with client:
            if self._cut:
                return
            scope = trio.CancelScope()
            self._connections.add(scope)
            try:
                with scope:
                    try:
                        server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
                    except OSError:
                        return  # the server is down: so is the connection
                    async with server, trio.open_nursery() as nursery:
                        nursery.start_soon(_pipe, client, server, nursery.cancel_scope)
                        nursery.start_soon(_pipe, server, client, nursery.cancel_scope)
            finally:
                self._connections.discard(scope)


async def _pipe(source: trio.SocketStream, sink: trio.SocketStream, both: trio.CancelScope) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        async for data in source:
            await sink.send_all(data)
    both.cancel()  # one side closed: close the other
