"""The plugin that runs httpx's suite over the balanced transport: its stand-in for
AsyncClient's default transport dials what the URL names, through a balancer."""

from __future__ import annotations

import httpx

from tools import httpx_suite

from ..support.http_servers import Backend, open_backends


async def test_the_stand_in_sends_through_a_balancer_to_the_url_itself() -> None:
    stand_in = httpx_suite.BalancedDefault(
        verify=True, cert=None, trust_env=True, http1=True, http2=False, limits=httpx.Limits()
    )
    async with open_backends(Backend("a")) as (a,):
        async with httpx.AsyncClient(transport=stand_in) as client:
            response = await client.get(f"http://127.0.0.1:{a.port}/x")
            assert response.text == "a"
            transport = stand_in._transport
            assert transport is not None
            (balancer,) = transport.statistics().authorities
            assert str(balancer.authority) == f"127.0.0.1:{a.port}"
        assert transport._closed, "closing the client closes its balanced transport"
    assert [seen.host for seen in a.seen] == [f"127.0.0.1:{a.port}"]
