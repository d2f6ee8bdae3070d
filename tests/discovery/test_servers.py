"""The server fixtures of the discovery tests: skip, or fail when servers are required."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support import servers


def test_a_missing_server_skips_unless_servers_are_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(servers, "_SEARCH_PATH", str(tmp_path))
    monkeypatch.delenv(servers.REQUIRE_SERVERS, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"etcd is not installed \(Debian package"):
        servers.find_binary("etcd", "etcd-server")
    monkeypatch.setenv(servers.REQUIRE_SERVERS, "1")
    with pytest.raises(pytest.fail.Exception, match="TRIO_POOL_REQUIRE_SERVERS=1 requires it"):
        servers.find_binary("etcd", "etcd-server")


def test_a_present_server_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "dnsmasq"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(servers, "_SEARCH_PATH", str(tmp_path))
    assert servers.find_binary("dnsmasq", "dnsmasq") == str(binary)


def test_a_run_without_servers_ends_with_how_to_install_them() -> None:
    reasons = [
        "Skipped: dnsmasq is not installed (Debian package dnsmasq)",
        "Skipped: etcd is not installed (Debian package etcd-server)",
        "Skipped: etcd is not installed (Debian package etcd-server)",
        "Skipped: something else",
    ]
    assert servers.skip_summary(reasons) == (
        "3 tests skipped: dnsmasq and etcd not installed; the discovery tests run "
        "against real servers: sudo apt-get install dnsmasq etcd-server"
    )
    assert servers.skip_summary(["Skipped: something else"]) is None
