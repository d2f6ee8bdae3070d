"""HTTPS through the balanced transport: the certificate names the logical host, not the IP."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import trustme

from trio_pool.httpx import open_balanced_transport

from ..support.http_servers import Backend, open_backends, write_certificate
from ..support.httpx_helpers import Resolver


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts only the test CA, and checks host names."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    return context


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
    resolver = Resolver({"api.test": [backend.address]})
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
