"""`DnsDiscovery` takes a domain name: a port or a URL in it is refused at once."""

from __future__ import annotations

import pytest

from trio_pool.discovery import DnsDiscovery


def test_a_name_with_a_port_is_refused_with_the_call_to_make() -> None:
    with pytest.raises(ValueError, match="without a port") as raised:
        DnsDiscovery("users.internal:8080", 80)
    assert "DnsDiscovery('users.internal', 8080)" in str(raised.value)
    with pytest.raises(ValueError, match="without a port"):
        DnsDiscovery("_http._tcp.users.internal:80", record="SRV")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("http://users.internal", "not a URL"),
        ("users.internal/", "no whitespace"),
        ("users internal", "no whitespace"),
        ("user@users.internal", "no whitespace"),
        ("::1", "no whitespace"),
        ("users.internal:http", "no whitespace"),
        ("", "must be a domain name"),
        (".", "must be a domain name"),
    ],
)
def test_what_is_not_a_domain_name_is_refused(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DnsDiscovery(name, 80)


@pytest.mark.parametrize(
    "name", ["users.internal", "users.internal.", "_http._tcp.users.internal", "localhost"]
)
def test_domain_names_are_accepted(name: str) -> None:
    if name.startswith("_"):
        assert DnsDiscovery(name, record="SRV").name == name
    else:
        assert DnsDiscovery(name, 80).name == name
