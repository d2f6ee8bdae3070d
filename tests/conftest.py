from __future__ import annotations

import os
from collections.abc import Generator

import pytest
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
