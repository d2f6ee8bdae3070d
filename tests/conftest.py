from __future__ import annotations

import importlib
import os
import ssl
from collections.abc import Generator, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trustme
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("long", max_examples=10_000, deadline=None)
# CI runs the long-enough profile; HYPOTHESIS_PROFILE picks another (say, "long").
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Generator[None]:
    """One line at the very end of a run that skipped tests for want of dnsmasq or etcd
    (after the short summary, which lists each of them)."""
    from tests.support.servers import skip_summary  # noqa: PLC0415 - only when the run ends

    yield
    reasons = []
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            reasons.append(str(longrepr[2]))
    line = skip_summary(reasons)
    if line is not None:
        terminalreporter.write_line(line, yellow=True, bold=True)


# -- TLS: a certificate authority of the tests' own ---------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A certificate authority that only the tests trust."""
    return trustme.CA()


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts only `ca`, and checks host names."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    return context


# -- tests/httpx2: the transport's tests again, over httpx2 -----------------------------------

_FLAVOURED = Path(__file__).parent / "httpx2"


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``tests/httpx2`` as the test modules of ``tests/httpx``, each imported
    anew as a module of ``tests.httpx2`` (see its ``__init__``)."""
    if path == _FLAVOURED:
        return FlavouredTests.from_parent(parent, path=path)
    return None


class FlavouredTests(pytest.Directory):
    """``tests/httpx2``: a module for each test file of the package it runs again."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        package = importlib.import_module("tests.httpx2")
        shared = Path(package.__path__[-1])
        for source in sorted(shared.glob("test_*.py")):
            yield FlavouredModule.from_parent(
                self,
                path=source,
                name=source.name,
                nodeid=f"tests/httpx2/{source.name}",
            )


class FlavouredModule(pytest.Module):
    """A test file of ``tests/httpx``, imported as a module of ``tests.httpx2``."""

    def _getobj(self) -> ModuleType:
        return importlib.import_module(f"tests.httpx2.{self.path.stem}")

    def _importtestmodule(self) -> Any:  # pytest's name for the same, in some versions
        return self._getobj()
