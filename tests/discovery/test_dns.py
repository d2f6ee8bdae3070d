"""`DnsDiscovery`: intervals and failures on a mock clock, then records from a real dnsmasq."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.asyncresolver
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest
import trio
import trio.testing
from dns._asyncbackend import Backend

from trio_pool import Add, Backoff, DoesNotExist, Remove, Reset
from trio_pool.discovery import DnsDiscovery, Meta

from ..support.discovery import collect, errors, new_metrics, watch_log
from ..support.servers import Dnsmasq

LOGGER = "trio_pool.discovery.dns"
NO_JITTER = Backoff(initial=1.0, maximum=4.0, multiplier=2.0, jitter=0.0)
# On the mock clock, a deadline far beyond every expected time: a test that waits in
# vain fails at once instead of hanging.
MOCK_PATIENCE = 10_000.0
SOA = "ns.test. admin.test. 1 3600 600 86400 5"


class FakeResolver(dns.asyncresolver.Resolver):
    """Answers from ``records`` (``{(name, type): (ttl, [rdata text])}``), as a server
    would: NXDOMAIN for a name with no records at all, NODATA for a missing type.

    The answer (or the failure) is fixed when the query is made, before the query
    checkpoints, so that a test that changes the records after `wait_queries` affects
    the next query, never the one in flight.
    """

    def __init__(self) -> None:
        super().__init__(configure=False)
        self.records: dict[tuple[str, str], tuple[int, list[str]]] = {}
        self.soa = True
        self.failure: Exception | None = None
        self.failing: dict[str, Exception] = {}
        self.hang = False
        self.queries: list[tuple[str, str, float]] = []
        self._queried = trio.Event()

    def set(self, name: str, rdtype: str, ttl: int, *rdatas: str) -> None:
        self.records[(name, rdtype)] = (ttl, list(rdatas))

    async def wait_queries(self, count: int) -> None:
        while len(self.queries) < count:
            await self._queried.wait()

    def query_times(self) -> list[float]:
        return [t for _, _, t in self.queries]

    async def resolve(
        self,
        qname: dns.name.Name | str,
        rdtype: dns.rdatatype.RdataType | str = dns.rdatatype.A,
        rdclass: dns.rdataclass.RdataClass | str = dns.rdataclass.IN,
        tcp: bool = False,
        source: str | None = None,
        raise_on_no_answer: bool = True,
        source_port: int = 0,
        lifetime: float | None = None,
        search: bool | None = None,
        backend: Backend | None = None,
    ) -> dns.resolver.Answer:
        assert backend is not None, "the source passes the Trio backend"
        assert not raise_on_no_answer, "the source handles NODATA itself"
        name = dns.name.from_text(str(qname))
        kind = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
        self.queries.append((name.to_text(), kind, trio.current_time()))
        self._queried.set()
        self._queried = trio.Event()
        try:
            answer = self._answer(name, kind)
        finally:
            if self.hang:
                await trio.sleep_forever()
            await trio.lowlevel.checkpoint()
        return answer

    def _answer(self, name: dns.name.Name, kind: str) -> dns.resolver.Answer:
        failure = self.failing.get(name.to_text(), self.failure)
        if failure is not None:
            raise failure
        rdtype = dns.rdatatype.from_text(kind)
        query = dns.message.make_query(name, rdtype)
        response = dns.message.make_response(query)
        assert isinstance(response, dns.message.QueryMessage)
        if self.soa:
            soa = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA, SOA)
            response.find_rrset(
                response.authority,
                dns.name.from_text("test."),
                dns.rdataclass.IN,
                dns.rdatatype.SOA,
                create=True,
            ).add(soa, 30)
        if not any(n == name.to_text() for n, _ in self.records):
            raise dns.resolver.NXDOMAIN(qnames=[name], responses={name: response})  # type: ignore[no-untyped-call]
        if (name.to_text(), kind) in self.records:
            ttl, rdatas = self.records[(name.to_text(), kind)]
            response.authority.clear()
            rrset = response.find_rrset(
                response.answer, name, dns.rdataclass.IN, rdtype, create=True
            )
            for text in rdatas:
                rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, text), ttl)
        return dns.resolver.Answer(name, rdtype, dns.rdataclass.IN, response)


def servfail() -> Exception:
    """What dnspython raises when every server answered SERVFAIL or REFUSED."""
    return dns.resolver.NoNameservers()  # type: ignore[no-untyped-call]


def fake_source(resolver: FakeResolver, name: str = "web.test.", **options: Any) -> DnsDiscovery:
    options.setdefault("port", 80)
    options.setdefault("backoff", NO_JITTER)
    options.setdefault("max_interval", 60.0)
    return DnsDiscovery(name, resolver=resolver, **options)


# -- on a mock clock, with a scripted resolver ----------------------------------------


async def test_lookups_follow_the_ttl_within_the_bounds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    resolver = FakeResolver()
    resolver.set("web.test.", "A", 0, "10.0.0.1", "10.0.0.2")
    with trio.fail_after(MOCK_PATIENCE):
        async with collect(
            fake_source(resolver, min_interval=1.0, max_interval=60.0), patience=MOCK_PATIENCE
        ) as updates:
            assert await updates.next() == Reset(
                [(("10.0.0.1", 80), Meta()), (("10.0.0.2", 80), Meta())]
            )
            await resolver.wait_queries(2)
            resolver.set("web.test.", "A", 10, "10.0.0.1", "10.0.0.2")
            await resolver.wait_queries(4)
            resolver.set("web.test.", "A", 86400, "10.0.0.2", "10.0.0.3")
            assert await updates.next() == Add([(("10.0.0.3", 80), Meta())])
            assert await updates.next() == Remove([("10.0.0.1", 80)])
            await resolver.wait_queries(6)
    # TTL 0 -> min_interval (1 s); TTL 10 -> 10 s; a day -> max_interval (60 s).
    assert resolver.query_times() == [0, 1, 2, 12, 22, 82]


async def test_a_failing_server_keeps_the_set_and_backs_off(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    registry, metrics = new_metrics()
    resolver = FakeResolver()
    resolver.set("web.test.", "A", 5, "10.0.0.1")
    source = fake_source(resolver, metrics=metrics)
    with (
        trio.fail_after(MOCK_PATIENCE),
        caplog.at_level(logging.INFO, LOGGER),
        watch_log(LOGGER, "keeping") as failures,
    ):
        async with collect(source, patience=MOCK_PATIENCE) as updates:
            await updates.next()
            resolver.failure = servfail()
            await failures.wait_for(4)
            assert errors(registry, "dns", "servfail") == 4
            assert updates.drain() == [], "failures change nothing"
            resolver.failure = None
            resolver.set("web.test.", "A", 5, "10.0.0.2")
            assert await updates.next() == Add([(("10.0.0.2", 80), Meta())])
            assert await updates.next() == Remove([("10.0.0.1", 80)])
            await resolver.wait_queries(7)
    # Lookups at 0 and 5 (the TTL); failures at 5, 6, 8, 12 (backoff 1, 2, 4); success
    # at 16 (backoff capped at 4), then the TTL again.
    assert resolver.query_times() == [0, 5, 6, 8, 12, 16, 21]
    assert failures.times == [5, 6, 8, 12]
    assert "recovered after 4 failures in a row" in caplog.text


async def test_a_lookup_that_hangs_times_out_on_the_trio_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry, metrics = new_metrics()
    resolver = FakeResolver()
    resolver.set("web.test.", "A", 1, "10.0.0.1")
    resolver.hang = True
    source = fake_source(resolver, timeout=2.0, metrics=metrics)
    with trio.fail_after(MOCK_PATIENCE), watch_log(LOGGER, "no answer within 2 s") as timeouts:
        async with collect(source, patience=MOCK_PATIENCE) as updates:
            await timeouts.wait_for(2)
            assert errors(registry, "dns", "timeout") == 2
            resolver.hang = False
            assert await updates.next() == Reset([(("10.0.0.1", 80), Meta())])
    # Each hang is cut after 2 s, then backoff 1 s and 2 s.
    assert timeouts.times == [2, 5]
    assert resolver.query_times() == [0, 3, 7]


async def test_a_name_that_goes_away_does_not_exist(
    autojump_clock: trio.testing.MockClock,
) -> None:
    resolver = FakeResolver()
    with trio.fail_after(MOCK_PATIENCE):
        async with collect(
            fake_source(resolver, min_interval=1.0), patience=MOCK_PATIENCE
        ) as updates:
            assert await updates.next() == DoesNotExist()
            resolver.set("web.test.", "A", 100, "10.0.0.1")
            assert await updates.next() == Reset([(("10.0.0.1", 80), Meta())])
            assert trio.current_time() == 5, "after NXDOMAIN, the SOA's negative TTL (5 s)"
            resolver.records.clear()
            resolver.soa = False
            assert await updates.next() == DoesNotExist()
            assert trio.current_time() == 65, "the TTL of 100 s, capped at 60 s"
            await resolver.wait_queries(4)
            assert resolver.query_times()[-1] == 66, "without an SOA, min_interval"


async def test_a_name_without_records_of_the_type_is_empty(
    autojump_clock: trio.testing.MockClock,
) -> None:
    resolver = FakeResolver()
    resolver.set("web.test.", "AAAA", 5, "fd00::1")
    async with collect(fake_source(resolver), patience=MOCK_PATIENCE) as updates:
        assert await updates.next() == Reset([])
    async with collect(fake_source(resolver, record="AAAA"), patience=MOCK_PATIENCE) as updates:
        assert await updates.next() == Reset([(("fd00::1", 80), Meta())])


async def test_srv_records_give_ports_and_targets_resolve_to_addresses(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    registry, metrics = new_metrics()
    resolver = FakeResolver()
    resolver.set(
        "_http._tcp.web.test.",
        "SRV",
        30,
        "10 5 8080 a.test.",
        "30 0 8080 a.test.",  # the same endpoint again, at a worse priority
        "20 0 9090 v6.test.",
        "0 0 0 a.test.",  # port 0: bad
        "20 0 8081 missing.test.",  # no such target: bad
        "20 0 8082 nodata.test.",  # a target without addresses: bad
        "0 0 80 .",  # "not offered here": no endpoint, not an error
    )
    resolver.set("a.test.", "A", 7, "10.0.0.1", "10.0.0.2")
    resolver.set("v6.test.", "AAAA", 60, "fd00::1")
    resolver.set("nodata.test.", "TXT", 60, '"nothing"')
    source = fake_source(resolver, "_http._tcp.web.test", port=None, record="SRV", metrics=metrics)
    with trio.fail_after(MOCK_PATIENCE), caplog.at_level(logging.WARNING, LOGGER):
        async with collect(source, patience=MOCK_PATIENCE) as updates:
            first = await updates.next()
            await resolver.wait_queries(len(resolver.queries) + 1)
            assert trio.current_time() == 7, "the smallest TTL of the SRV and target records"
            await updates.none_within(20)
    a = Meta(target="a.test.", priority=10, weight=5)
    assert first == Reset(
        [
            (("10.0.0.1", 8080), a),
            (("10.0.0.2", 8080), a),
            (("fd00::1", 9090), Meta(target="v6.test.", priority=20, weight=0)),
        ]
    )
    assert errors(registry, "dns", "bad_record") == 3, "each bad record counts once"
    assert "SRV 0 0 0 a.test.: port 0" in caplog.text
    assert "SRV 20 0 8081 missing.test.: its target does not exist" in caplog.text
    assert "SRV 20 0 8082 nodata.test.: its target has no A or AAAA record" in caplog.text


async def test_a_failing_srv_target_keeps_its_last_addresses(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # One target that its server cannot resolve right now (SERVFAIL) keeps the
    # addresses it had; the other targets' changes still come through.
    resolver = FakeResolver()
    resolver.set("_x._tcp.test.", "SRV", 1, "0 0 80 a.test.", "0 0 81 b.test.")
    resolver.set("a.test.", "A", 1, "10.0.0.1")
    resolver.set("b.test.", "A", 1, "10.0.0.2")
    source = fake_source(resolver, "_x._tcp.test.", port=None, record="SRV")
    a = Meta(target="a.test.", priority=0, weight=0)
    b = Meta(target="b.test.", priority=0, weight=0)
    with trio.fail_after(MOCK_PATIENCE):
        async with collect(source, patience=MOCK_PATIENCE) as updates:
            assert await updates.next() == Reset([(("10.0.0.1", 80), a), (("10.0.0.2", 81), b)])
            resolver.set("b.test.", "A", 1, "10.0.0.3")
            resolver.failing["b.test."] = servfail()
            resolver.set("a.test.", "A", 1, "10.0.0.4")
            assert await updates.next() == Add([(("10.0.0.4", 80), a)])
            assert await updates.next() == Remove([("10.0.0.1", 80)])
            assert ("10.0.0.2", 81) in updates.state, "the failing target keeps its address"
            del resolver.failing["b.test."]
            assert await updates.next() == Add([(("10.0.0.3", 81), b)])
            assert await updates.next() == Remove([("10.0.0.2", 81)])


async def test_a_target_failing_from_the_start_is_skipped(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    resolver = FakeResolver()
    resolver.set("_x._tcp.test.", "SRV", 1, "0 0 80 a.test.", "0 0 81 b.test.")
    resolver.set("a.test.", "A", 1, "10.0.0.1")
    resolver.failing["b.test."] = servfail()
    source = fake_source(resolver, "_x._tcp.test.", port=None, record="SRV")
    a = Meta(target="a.test.", priority=0, weight=0)
    with trio.fail_after(MOCK_PATIENCE):
        async with collect(source, patience=MOCK_PATIENCE) as updates:
            assert await updates.next() == Reset([(("10.0.0.1", 80), a)])
    assert "b.test.: its target could not be resolved" in caplog.text


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="A records need a port"):
        DnsDiscovery("web.test")
    with pytest.raises(ValueError, match="port must be None for SRV"):
        DnsDiscovery("_x._tcp.test", 80, record="SRV")
    with pytest.raises(ValueError, match="port must be from 1 to 65535"):
        DnsDiscovery("web.test", 0)
    with pytest.raises(ValueError, match="record must be 'A', 'AAAA' or 'SRV'"):
        DnsDiscovery("web.test", 80, record="MX")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not exceed max_interval"):
        DnsDiscovery("web.test", 80, min_interval=10, max_interval=5)
    with pytest.raises(ValueError, match="nameservers must be IP addresses"):
        DnsDiscovery("web.test", 80, nameservers=["dns.google"])
    with pytest.raises(TypeError, match="collection of IP addresses"):
        DnsDiscovery("web.test", 80, nameservers="10.0.0.53")
    with pytest.raises(ValueError, match="nameservers or a resolver"):
        DnsDiscovery("web.test", 80, nameservers=["10.0.0.53"], resolver=FakeResolver())
    with pytest.raises(ValueError, match="not a valid domain name"):
        DnsDiscovery("a" * 64 + ".test", 80)
    with pytest.raises(ValueError, match="must be a domain name"):
        DnsDiscovery(".", 80)
    assert DnsDiscovery("web.test", 80, nameservers=["::1"]).nameservers == ("::1",)


# -- against a real dnsmasq -----------------------------------------------------------

FAST = Backoff(initial=0.02, maximum=0.1, multiplier=2.0, jitter=0.0)


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[Dnsmasq]:
    with Dnsmasq.running(tmp_path) as server:
        yield server


def real_source(server: Dnsmasq, name: str, port: int | None = 80, **options: Any) -> DnsDiscovery:
    return DnsDiscovery(
        name,
        port,
        nameservers=["127.0.0.1"],
        nameserver_port=server.port,
        min_interval=0.02,
        max_interval=0.05,
        timeout=0.3,
        backoff=FAST,
        **options,
    )


async def reload_with(server: Dnsmasq, hosts: list[tuple[str, str]]) -> None:
    server.set_hosts(hosts)
    await trio.to_thread.run_sync(server.reload)


async def test_dnsmasq_a_records_added_removed_and_changed(dnsmasq: Dnsmasq) -> None:
    await reload_with(dnsmasq, [("10.0.0.1", "web.svc.test"), ("10.0.0.2", "web.svc.test")])
    async with collect(real_source(dnsmasq, "web.svc.test")) as updates:
        assert await updates.next() == Reset(
            [(("10.0.0.1", 80), Meta()), (("10.0.0.2", 80), Meta())]
        )
        await reload_with(
            dnsmasq,
            [("10.0.0.2", "web.svc.test"), ("10.0.0.3", "web.svc.test")],
        )
        changes = await updates.until({("10.0.0.2", 80): Meta(), ("10.0.0.3", 80): Meta()})
        assert changes == [Add([(("10.0.0.3", 80), Meta())]), Remove([("10.0.0.1", 80)])]
        await reload_with(dnsmasq, [("10.0.0.4", "web.svc.test")])
        changes = await updates.until({("10.0.0.4", 80): Meta()})
        assert changes == [
            Add([(("10.0.0.4", 80), Meta())]),
            Remove([("10.0.0.2", 80), ("10.0.0.3", 80)]),
        ]


async def test_dnsmasq_aaaa_records(dnsmasq: Dnsmasq) -> None:
    await reload_with(dnsmasq, [("fd00::1", "web.svc.test"), ("10.0.0.1", "web.svc.test")])
    async with collect(real_source(dnsmasq, "web.svc.test", 443, record="AAAA")) as updates:
        assert await updates.next() == Reset([(("fd00::1", 443), Meta())])


async def test_dnsmasq_a_name_removed_and_restored(dnsmasq: Dnsmasq) -> None:
    await reload_with(dnsmasq, [("10.0.0.1", "web.svc.test"), ("10.0.0.9", "other.svc.test")])
    async with collect(real_source(dnsmasq, "web.svc.test")) as updates:
        assert await updates.next() == Reset([(("10.0.0.1", 80), Meta())])
        await reload_with(dnsmasq, [("10.0.0.9", "other.svc.test")])
        assert await updates.next() == DoesNotExist()
        await reload_with(dnsmasq, [("10.0.0.2", "web.svc.test")])
        assert await updates.next() == Reset([(("10.0.0.2", 80), Meta())])


async def test_dnsmasq_srv_records_with_bad_ones_beside_good_ones(dnsmasq: Dnsmasq) -> None:
    registry, metrics = new_metrics()
    dnsmasq.set_hosts([("10.0.1.1", "a.svc.test"), ("10.0.1.2", "b.svc.test")])
    dnsmasq.set_srv(
        [
            "_http._tcp.web.svc.test,a.svc.test,8080,10,5",
            "_http._tcp.web.svc.test,missing.svc.test,8081",
            "_http._tcp.web.svc.test,a.svc.test,0",
        ]
    )
    await trio.to_thread.run_sync(dnsmasq.restart)
    source = real_source(dnsmasq, "_http._tcp.web.svc.test", None, record="SRV", metrics=metrics)
    async with collect(source) as updates:
        assert await updates.next() == Reset(
            [(("10.0.1.1", 8080), Meta(target="a.svc.test.", priority=10, weight=5))]
        )
        assert errors(registry, "dns", "bad_record") == 2
        dnsmasq.set_srv(
            [
                "_http._tcp.web.svc.test,a.svc.test,8080,10,5",
                "_http._tcp.web.svc.test,b.svc.test,9090,20,1",
            ]
        )
        await trio.to_thread.run_sync(dnsmasq.restart)
        assert await updates.next() == Add(
            [(("10.0.1.2", 9090), Meta(target="b.svc.test.", priority=20, weight=1))]
        )
        await updates.none_within(0.2)
    assert errors(registry, "dns", "bad_record") == 2, "bad records are counted once"


async def test_dnsmasq_stopped_then_restarted(dnsmasq: Dnsmasq) -> None:
    registry, metrics = new_metrics()
    await reload_with(dnsmasq, [("10.0.0.1", "web.svc.test"), ("10.0.0.2", "web.svc.test")])
    async with collect(real_source(dnsmasq, "web.svc.test", metrics=metrics)) as updates:
        await updates.next()
        await trio.to_thread.run_sync(dnsmasq.stop)
        await updates.none_within(1.0)
        failures = errors(registry, "dns", "timeout") + errors(registry, "dns", "unavailable")
        assert failures >= 2, "the lookups failed, and the set stayed"
        dnsmasq.set_hosts([("10.0.0.2", "web.svc.test"), ("10.0.0.3", "web.svc.test")])
        await trio.to_thread.run_sync(dnsmasq.start)
        changes = await updates.until({("10.0.0.2", 80): Meta(), ("10.0.0.3", 80): Meta()})
        assert changes == [Add([(("10.0.0.3", 80), Meta())]), Remove([("10.0.0.1", 80)])]


async def test_dnsmasq_refusing_the_name_yields_nothing(dnsmasq: Dnsmasq) -> None:
    registry, metrics = new_metrics()
    async with collect(real_source(dnsmasq, "web.example", metrics=metrics)) as updates:
        await updates.none_within(0.5)
    assert errors(registry, "dns", "servfail") >= 2, "REFUSED by every server: retried"
