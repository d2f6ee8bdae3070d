"""`DnsDiscovery`: endpoints from DNS A, AAAA or SRV records, re-resolved on their TTL.

Lookups go through dnspython's async resolver on its Trio backend. Every lookup is
bounded by ``timeout`` on Trio's clock, and the next one is due when the answer's TTL
runs out (the smallest TTL of the records that made the answer, CNAMEs included),
clamped to ``[min_interval, max_interval]``: a TTL of 0 does not turn into a busy loop,
and a day-long TTL does not hide a change for a day.

For SRV, each record's target name is resolved to addresses (A, or AAAA for a target
without A records), so endpoints are always IP addresses, whatever the record type.
That way two records for one host collapse into one endpoint, and a target that moves
to a new address is seen as the change it is, instead of hiding behind an unchanged
name that a connection would resolve once and then keep.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import AsyncGenerator, Iterable
from typing import TYPE_CHECKING, Any, Literal

import attrs
import trio

from .._backoff import Backoff
from .._update import Update
from . import _validate
from ._meta import Meta
from ._metrics import DiscoveryMetrics
from ._poll import Found, Missing, Snapshot, poll
from ._record import Address
from ._retry import DEFAULT_BACKOFF, Retry, TransientError
from ._tracker import Tracker

try:
    import dns.asyncbackend
    import dns.asyncresolver
    import dns.exception
    import dns.message
    import dns.name
    import dns.rdatatype
    import dns.rdtypes.ANY.SOA
    import dns.rdtypes.IN.A
    import dns.rdtypes.IN.AAAA
    import dns.rdtypes.IN.SRV
    import dns.resolver
except ImportError as exc:  # the "dns" extra is not installed
    _dnspython_missing: ImportError | None = exc
else:
    _dnspython_missing = None

if TYPE_CHECKING:
    from dns._asyncbackend import Backend

__all__ = ["DnsDiscovery", "RecordType"]

logger = logging.getLogger("trio_pool.discovery.dns")

RecordType = Literal["A", "AAAA", "SRV"]
"""The DNS record types `DnsDiscovery` reads."""

_RECORD_TYPES: tuple[RecordType, ...] = ("A", "AAAA", "SRV")
_NO_META = Meta()


def _check_record(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in _RECORD_TYPES:
        raise ValueError(f"record must be 'A', 'AAAA' or 'SRV', got {value!r}")


def _check_name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"name must be a str, got {value!r}")
    if not value.strip("."):
        raise ValueError(f"name must be a domain name, got {value!r}")
    # A port or a URL in the name would be looked up as a name that cannot exist:
    # NXDOMAIN, an empty pool, and no hint why.
    if "://" in value:
        raise ValueError(f"name must be a domain name, not a URL: got {value!r}")
    host, colon, port = value.rpartition(":")
    if colon and port.isdigit() and host and ":" not in host:
        raise ValueError(
            f"name must be a domain name without a port, got {value!r}: "
            f"pass the port apart, DnsDiscovery({host!r}, {int(port)})"
        )
    if any(c.isspace() or not c.isprintable() or c in ":/@" for c in value):
        raise ValueError(
            f"name must be a domain name (no whitespace, ':', '/' or '@'), got {value!r}"
        )


def _nameservers(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"nameservers must be a collection of IP addresses, got {value!r}")
    servers = tuple(value)
    for server in servers:
        if not isinstance(server, str):
            raise TypeError(f"nameservers must be IP address strings, got {server!r}")
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ValueError(f"nameservers must be IP addresses, got {server!r}") from None
    if not servers:
        raise ValueError("nameservers must not be empty; pass None to use the system's")
    return servers


@attrs.frozen
class DnsDiscovery:
    """Endpoints from the A, AAAA or SRV records of ``name``, re-resolved on their TTL.

    ```python
    DnsDiscovery("users.internal", 8080)                       # A records, port 8080
    DnsDiscovery("users.internal", 8080, record="AAAA")
    DnsDiscovery("_http._tcp.users.internal", record="SRV")     # ports from the records
    DnsDiscovery("users.internal", 8080, nameservers=["10.0.0.53"])
    ```

    Addresses are ``(ip, port)``. For A and AAAA, the port is ``port`` and the target is
    ``Meta()``. For SRV, ``port`` must be left out: each record gives its port, and its
    target name is resolved to IP addresses (its A records, else its AAAA records), one
    endpoint each, whose target is ``Meta(target=<name>, priority=<n>, weight=<n>)``. The
    pool balances over all records; it does not apply priority or weight, which the
    endpoint factory can read from the target. A record whose target is ``.`` (the
    service is not offered there) is left out; a record with port 0 or whose target
    has no address is skipped as a bad record. When two records end up at the same
    ``(ip, port)``, the one with the lowest priority (then highest weight) wins.

    What the stream yields:

    - first a `Reset`, or `DoesNotExist` if the name does not exist (NXDOMAIN);
    - the difference when an answer differs from the last: an `Add` of new endpoints
      (and of those whose target changed), then a `Remove` of the vanished ones; a name
      that exists without records of the type (NODATA) is an empty set;
    - `DoesNotExist` when the name stops existing, and a `Reset` when it comes back.

    The next lookup is due when the answer's TTL runs out, clamped to ``[min_interval,
    max_interval]``; after NXDOMAIN or NODATA, the negative-caching TTL of the zone's SOA
    record, or ``min_interval`` if the answer carries none. A lookup that fails (SERVFAIL
    or REFUSED from every server, no answer within ``timeout``, a network error) keeps
    the last set and is retried after ``backoff``; it is logged on the
    ``trio_pool.discovery.dns`` logger and counted as a ``servfail``, ``timeout`` or
    ``unavailable`` error. For SRV, a target that the servers cannot resolve right now
    (SERVFAIL, REFUSED) keeps the addresses of its last good lookup (or is skipped as a
    bad record if it never had one), so that neither does a flaky target remove healthy
    endpoints nor freeze the other targets' changes; a target lookup that times out
    still fails the whole lookup, as the targets share one ``timeout``.

    Each iteration (each ``async for``) resolves anew, starting with a `Reset`. Targets
    of SRV records are resolved one after another.

    Arguments after ``port`` are keyword-only.

    Raises:
        ImportError: dnspython is missing (install ``trio-pool[dns]``).
        TypeError: ``name`` is not a str, ``port`` not an int.
        ValueError: ``name`` is not a domain name (it holds a port, ``"users:8080"``, or
            is a URL); ``port`` is missing for A or AAAA, or given for SRV; intervals
            are out of order; ``nameservers`` and ``resolver`` are both given.
    """

    name: str = attrs.field(validator=_check_name)
    """The name to resolve; absolute (no search domains) unless ``resolver`` says
    otherwise."""
    port: int | None = attrs.field(default=None)
    """The port of every endpoint for A and AAAA; ``None`` for SRV."""
    record: RecordType = attrs.field(default="A", kw_only=True, validator=_check_record)
    """``"A"``, ``"AAAA"`` or ``"SRV"``."""
    nameservers: tuple[str, ...] | None = attrs.field(
        default=None, kw_only=True, converter=_nameservers
    )
    """IP addresses of the servers to ask; ``None`` reads the system's configuration
    (``/etc/resolv.conf``)."""
    nameserver_port: int = attrs.field(default=53, kw_only=True, validator=_validate.tcp_port)
    """The servers' port."""
    min_interval: float = attrs.field(default=1.0, kw_only=True, validator=_validate.positive)
    """The shortest time between lookups, in seconds."""
    max_interval: float = attrs.field(default=300.0, kw_only=True, validator=_validate.positive)
    """The longest time between lookups, in seconds."""
    timeout: float = attrs.field(default=5.0, kw_only=True, validator=_validate.positive)
    """The longest a lookup may take, in seconds (an SRV lookup with its targets')."""
    resolver: dns.asyncresolver.Resolver | None = attrs.field(default=None, kw_only=True, eq=False)
    """A configured ``dns.asyncresolver.Resolver`` to use instead of one built from
    ``nameservers`` and ``nameserver_port`` (search domains, EDNS, DNS over TLS...)."""
    backoff: Backoff = attrs.field(
        default=DEFAULT_BACKOFF, kw_only=True, validator=_validate.backoff
    )
    """Delays between retries after failed lookups."""
    rng: random.Random | None = attrs.field(default=None, kw_only=True, eq=False)
    """Randomness for the backoff's jitter, for reproducible runs."""
    metrics: DiscoveryMetrics | None = attrs.field(
        default=None, kw_only=True, validator=_validate.metrics
    )
    """Counts updates and errors under ``source="dns"``, or ``None``."""

    def __attrs_post_init__(self) -> None:
        if _dnspython_missing is not None:
            raise ImportError(
                "DnsDiscovery needs dnspython: install trio-pool[dns]"
            ) from _dnspython_missing
        if self.record == "SRV":
            if self.port is not None:
                raise ValueError("port must be None for SRV records: they give the ports")
        elif self.port is None:
            raise ValueError(f"{self.record} records need a port")
        else:
            _validate.tcp_port(self, attrs.fields(DnsDiscovery).port, self.port)
        if self.min_interval > self.max_interval:
            raise ValueError(
                f"min_interval ({self.min_interval}) must not exceed "
                f"max_interval ({self.max_interval})"
            )
        if self.resolver is not None and self.nameservers is not None:
            raise ValueError("give nameservers or a resolver, not both")
        try:
            dns.name.from_text(self.name)
        except dns.exception.DNSException as exc:
            raise ValueError(f"name {self.name!r} is not a valid domain name: {exc}") from None

    def __aiter__(self) -> AsyncGenerator[Update, None]:
        tracker = Tracker("dns", f"DNS {self.record} {self.name!r}", logger, self.metrics)
        retry = Retry(self.backoff, self.rng if self.rng is not None else random.Random())
        return poll(_Lookup(self, tracker), tracker, retry)

    def _interval(self, ttl: float | None) -> float:
        if ttl is None:
            return self.min_interval
        return min(max(ttl, self.min_interval), self.max_interval)


@attrs.define(eq=False)
class _Lookup:
    """One iteration's lookups; remembers last time's bad records, to report each once."""

    config: DnsDiscovery
    tracker: Tracker
    _resolver: dns.asyncresolver.Resolver | None = attrs.field(default=None, init=False)
    _backend: Backend | None = attrs.field(default=None, init=False)
    _bad: dict[str, str] = attrs.field(factory=dict, init=False)
    _bad_before: dict[str, str] = attrs.field(factory=dict, init=False)
    # Each SRV target's addresses at its last good lookup: a target that a server
    # cannot resolve right now (SERVFAIL, REFUSED) keeps them, rather than failing
    # the whole lookup and freezing every other target with it.
    _target_hosts: dict[dns.name.Name, tuple[list[str], float | None]] = attrs.field(
        factory=dict, init=False
    )

    async def __call__(self) -> Snapshot:
        config = self.config
        resolver = self._get_resolver()
        self._bad = {}
        with trio.move_on_after(config.timeout):
            try:
                if config.record == "SRV":
                    snapshot = await self._resolve_srv(resolver)
                else:
                    snapshot = await self._resolve_addresses(resolver)
            except dns.resolver.NXDOMAIN as exc:
                responses: dict[Any, dns.message.Message] = exc.kwargs.get("responses", {})
                return Missing(config._interval(_negative_ttl(responses.values())))
            except dns.resolver.NoNameservers as exc:
                raise TransientError("servfail", f"no server could answer: {exc}") from None
            except dns.exception.Timeout as exc:
                raise TransientError("timeout", str(exc)) from None
            except (dns.exception.DNSException, OSError) as exc:
                raise TransientError("unavailable", f"lookup failed: {exc!r}") from None
            self._report_bad_records()
            return snapshot
        raise TransientError("timeout", f"no answer within {config.timeout:g} s")

    def _get_resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is not None:
            return self._resolver
        config = self.config
        if config.resolver is not None:
            resolver = config.resolver
        else:
            try:
                resolver = dns.asyncresolver.Resolver(configure=config.nameservers is None)
            except (dns.exception.DNSException, OSError) as exc:
                raise TransientError("unavailable", f"no resolver configuration: {exc!r}") from None
            if config.nameservers is not None:
                resolver.nameservers = list(config.nameservers)
            resolver.port = config.nameserver_port
        self._backend = dns.asyncbackend.get_backend("trio")
        self._resolver = resolver
        return resolver

    async def _query(
        self, resolver: dns.asyncresolver.Resolver, name: str | dns.name.Name, rdtype: str
    ) -> dns.resolver.Answer:
        return await resolver.resolve(
            name,
            rdtype,
            raise_on_no_answer=False,
            lifetime=self.config.timeout,
            backend=self._backend,
        )

    async def _resolve_addresses(self, resolver: dns.asyncresolver.Resolver) -> Snapshot:
        config = self.config
        assert config.port is not None, "validated: A and AAAA have a port"
        answer = await self._query(resolver, config.name, config.record)
        hosts = _addresses(answer)
        endpoints = {(host, config.port): _NO_META for host in sorted(hosts)}
        return Found(endpoints, config._interval(_ttl(answer)))

    async def _resolve_srv(self, resolver: dns.asyncresolver.Resolver) -> Snapshot:
        config = self.config
        answer = await self._query(resolver, config.name, "SRV")
        ttl = _ttl(answer)
        records = sorted(
            (r for r in answer.rrset or () if isinstance(r, dns.rdtypes.IN.SRV.SRV)),
            key=lambda r: (r.priority, -r.weight, r.target.to_text(), r.port),
        )
        targets: dict[dns.name.Name, tuple[list[str], float | None] | str] = {}
        endpoints: dict[Address, Meta] = {}
        for record in records:
            if record.target == dns.name.root:
                continue  # RFC 2782: the service is decidedly not available there
            where = f"SRV {record.to_text()}"
            if record.port == 0:
                self._bad[where] = "port 0"
                continue
            if record.target not in targets:
                targets[record.target] = await self._resolve_target(resolver, record.target)
            found = targets[record.target]
            if isinstance(found, str):
                self._bad[where] = found
                continue
            hosts, target_ttl = found
            ttl = _min_ttl(ttl, target_ttl)
            meta = Meta(
                target=record.target.to_text(), priority=record.priority, weight=record.weight
            )
            for host in hosts:
                endpoints.setdefault((host, record.port), meta)
        # Forget targets the service no longer names.
        self._target_hosts = {
            target: hosts for target, hosts in self._target_hosts.items() if target in targets
        }
        return Found(endpoints, config._interval(ttl))

    async def _resolve_target(
        self, resolver: dns.asyncresolver.Resolver, target: dns.name.Name
    ) -> tuple[list[str], float | None] | str:
        """The target's addresses and their TTL, or why there are none."""
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self._query(resolver, target, rdtype)
            except dns.resolver.NXDOMAIN:
                return "its target does not exist"
            except dns.resolver.NoNameservers as exc:
                last = self._target_hosts.get(target)
                if last is not None:
                    return last
                return f"its target could not be resolved: {exc}"
            hosts = _addresses(answer)
            if hosts:
                found = sorted(hosts), _ttl(answer)
                self._target_hosts[target] = found
                return found
        return "its target has no A or AAAA record"

    def _report_bad_records(self) -> None:
        # A lookup repeats every few seconds; a bad record is worth one warning and one
        # count when it appears (or changes), not one per lookup.
        for where, why in self._bad.items():
            if self._bad_before.get(where) != why:
                self.tracker.bad_record(where, why)
        self._bad_before = self._bad


def _addresses(answer: dns.resolver.Answer) -> set[str]:
    return {
        rdata.address
        for rdata in answer.rrset or ()
        if isinstance(rdata, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA)
    }


def _ttl(answer: dns.resolver.Answer) -> float | None:
    """How long ``answer`` stays fresh: its smallest TTL, or the negative TTL if empty."""
    if answer.rrset is None:
        return _negative_ttl([answer.response])
    return float(answer.chaining_result.minimum_ttl)


def _negative_ttl(responses: Iterable[dns.message.Message]) -> float | None:
    """RFC 2308: the smaller of the SOA record's TTL and its MINIMUM field, if any."""
    ttl: float | None = None
    for response in responses:
        for rrset in response.authority:
            for rdata in rrset:
                if isinstance(rdata, dns.rdtypes.ANY.SOA.SOA):
                    ttl = _min_ttl(ttl, min(rrset.ttl, rdata.minimum))
    return ttl


def _min_ttl(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
