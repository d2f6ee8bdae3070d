"""Nox sessions: tests, lint, typecheck, bench, docs, docs_browser, chaos (``nox -s NAME``)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite; HYPOTHESIS_PROFILE=long for a long property run."""
    # The docs' and the benchmarks' tools are tested too (tests/docs, tests/benchmarks).
    session.install("-e", ".[test,docs,bench]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test,docs,bench]", "mypy", "nox")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark: figures in benchmarks/results, the balance plots in docs/img."""
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/run_all.py")


@nox.session
def docs(session: nox.Session) -> None:
    """The docs site, built strictly (any warning fails) into site/."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def docs_browser(session: nox.Session) -> None:
    """The docs site, built, then opened from disk in headless Chromium, page by page.

    Needs Debian's chromium package (``apt-get install chromium``, or CHROMIUM=path).
    Writes a screenshot of every page, at a desktop and at a phone width, into
    build/docs-screenshots, and fails on a link to a missing file or to a folder (a
    bare listing from disk), a missing anchor, an asset loaded from the network, or an
    error in the browser's console (tools/check_site.py).
    """
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})
    session.run("python", "tools/check_site.py", "site", "--screenshots", "build/docs-screenshots")


@nox.session
def chaos(session: nox.Session) -> None:
    """The chaos suite and the pools' conformance checks, 10,000 examples each."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests/test_chaos.py",
        "tests/testing",
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": "long"},
    )


@nox.session
def soak(session: nox.Session) -> None:
    """Minutes of churn, cancellations and endpoint errors through each shipped pool,
    on the real clock (TRIO_POOL_SOAK_SECONDS, 300 by default, per pool)."""
    session.install("-e", ".[test]")
    seconds = session.env.get("TRIO_POOL_SOAK_SECONDS", "300")
    session.run(
        "pytest",
        "tests/test_soak.py",
        "-s",
        *session.posargs,
        env={"TRIO_POOL_SOAK_SECONDS": seconds},
    )
