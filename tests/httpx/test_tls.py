"""HTTPS through the balanced transport: the certificate names the logical host, not the IP."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from ..support.http_servers import Backend, open_backends, write_certificate
from ._flavour import Authority, httpx, open_balanced_transport
from ._helpers import Resolver


def causes(error: BaseException) -> list[BaseException]:
    """``error`` and what is behind it: causes, contexts, and errors passed as arguments."""
    chain: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if any(current is seen for seen in chain):
            continue
        chain.append(current)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += [a for a in current.args if isinstance(a, BaseException)]
    return chain


async def get(
    backend: Backend, context: ssl.SSLContext, *, http2: bool = False, connect_retries: int = 2
) -> httpx.Response:
    resolver = Resolver({"api.test:443": [backend.address]})
    async with (
        open_balanced_transport(
            resolver, verify=context, http2=http2, connect_retries=connect_retries
        ) as transport,
        httpx.AsyncClient(transport=transport) as client,
    ):
        return await client.get("https://api.test/users")


async def test_a_certificate_for_the_logical_host_is_accepted(
    ca: trustme.CA, trusting: ssl.SSLContext, tmp_path: Path
) -> None:
    certificate = write_certificate(ca, tmp_path, "api.test")
    async with open_backends(Backend("a"), certificate=certificate) as (a,):
        response = await get(a, trusting)
    assert response.status_code == 200
    assert response.text == "a"
    assert [seen.host for seen in a.seen] == ["api.test"]


async def test_a_certificate_for_another_name_is_rejected(
    ca: trustme.CA, trusting: ssl.SSLContext, tmp_path: Path
) -> None:
    certificate = write_certificate(ca, tmp_path, "other.test")
    async with open_backends(Backend("a"), certificate=certificate) as (a,):
        with pytest.raises(httpx.ConnectError) as caught:
            await get(a, trusting, connect_retries=0)
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in causes(caught.value))
    assert a.seen == [], "no request reached a server with the wrong certificate"


async def test_a_certificate_for_the_ip_is_not_enough(
    ca: trustme.CA, trusting: ssl.SSLContext, tmp_path: Path
) -> None:
    # The client dials 127.0.0.1, but checks the certificate against the logical name.
    certificate = write_certificate(ca, tmp_path, "127.0.0.1")
    async with open_backends(Backend("a"), certificate=certificate) as (a,):
        with pytest.raises(httpx.ConnectError) as caught:
            await get(a, trusting)
    verification = [e for e in causes(caught.value) if isinstance(e, ssl.SSLCertVerificationError)]
    assert verification, "the TLS handshake failed on the certificate check"
    assert "api.test" in str(verification[0]), "checked against the logical name"
    assert a.seen == []


async def test_http2_is_negotiated_with_the_logical_name(
    ca: trustme.CA, trusting: ssl.SSLContext, tmp_path: Path
) -> None:
    certificate = write_certificate(ca, tmp_path, "api.test")
    async with open_backends(Backend("a"), certificate=certificate) as (a,):
        response = await get(a, trusting, http2=True)
    assert response.http_version == "HTTP/2"
    assert a.seen[0].http_version == "2"
    assert a.seen[0].host == "api.test", "the :authority is the logical name"


async def test_http_and_https_are_two_authorities_so_a_redirect_to_https_works(
    ca: trustme.CA, trusting: ssl.SSLContext, tmp_path: Path
) -> None:
    # The same host, two schemes: each resolved on its own, each dialed on its own port.
    certificate = write_certificate(ca, tmp_path, "api.test")
    plain = Backend("plain", status=301, headers={"location": "https://api.test/users"})
    async with (
        open_backends(plain) as (plain,),
        open_backends(Backend("tls"), certificate=certificate) as (tls,),
    ):
        resolver = Resolver(
            {"http://api.test:80": [plain.address], "https://api.test:443": [tls.address]}
        )
        async with (
            open_balanced_transport(resolver, verify=trusting) as transport,
            httpx.AsyncClient(transport=transport, follow_redirects=True) as client,
        ):
            response = await client.get("http://api.test/users")
            assert response.status_code == 200
            assert response.text == "tls"
            assert [str(r.url) for r in response.history] == ["http://api.test/users"]
            assert str(response.url) == "https://api.test/users"
            assert [str(a.authority) for a in transport.statistics().authorities] == [
                "api.test:80",
                "api.test:443",
            ]
    assert resolver.calls == [Authority("http", "api.test", 80), Authority("https", "api.test")]
    assert plain.requests == 1
    assert [seen.host for seen in tls.seen] == ["api.test"]


async def test_a_callers_own_server_name_wins(
    ca: trustme.CA, trusting: ssl.SSLContext, tmp_path: Path
) -> None:
    # Dialing an IP while checking the certificate against a name, as httpx allows.
    certificate = write_certificate(ca, tmp_path, "api.test")
    async with open_backends(Backend("a"), certificate=certificate) as (a,):
        url = f"https://127.0.0.1:{a.port}/"
        resolver = Resolver({f"127.0.0.1:{a.port}": [a.address]})
        async with (
            open_balanced_transport(resolver, verify=trusting, connect_retries=0) as transport,
            httpx.AsyncClient(transport=transport) as client,
        ):
            # Without it first (a pooled connection would serve both): the IP is the
            # server name, so the check fails.
            with pytest.raises(httpx.ConnectError) as caught:
                await client.get(url)
            # The endpoint that failed to connect backs off; this request waits for it.
            named = await client.get(url, extensions={"sni_hostname": "api.test"})
            assert named.text == "a"
    verification = [e for e in causes(caught.value) if isinstance(e, ssl.SSLCertVerificationError)]
    assert verification, "the certificate check failed"
    assert a.requests == 1
