"""Nox sessions: tests, lint, typecheck, bench, docs, docs_browser, chaos, soak, httpx_suite,
httpx2_suite (``nox -s NAME``)."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from xml.etree import ElementTree

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
    """Minutes of churn, cancellations and endpoint errors through each shipped pool, and
    through the httpx transport over HTTP/2 with hedging and backends that come and go,
    on the real clock (TRIO_POOL_SOAK_SECONDS, 300 by default, per run); each prints
    what it saw."""
    session.install("-e", ".[test]")
    seconds = os.environ.get("TRIO_POOL_SOAK_SECONDS", "300")
    session.run(
        "pytest",
        "tests/test_soak.py",
        "tests/test_soak_http2.py::test_soak_http2",
        "-s",
        *session.posargs,
        env={"TRIO_POOL_SOAK_SECONDS": seconds},
    )


@nox.session
def httpx_suite(session: nox.Session) -> None:
    """httpx's own test suite on Trio, with the balanced transport as AsyncClient's default.

    Not part of CI: it fetches the sdist of the installed httpx with pip. The suite runs
    twice, every test included (the ``network`` ones too, which fail alike both ways
    without a network), with httpx's own transport and with the balanced one
    (tools/httpx_suite.py); the session reports both counts, and fails if a test fails
    with the balanced transport only. Extra arguments go to both pytest runs (say
    ``-- tests/client``).
    """
    session.install("-e", ".[httpx]")
    version = _version(session, "httpx")
    session.install(
        f"httpx[brotli,zstd,cli,http2,socks]=={version}",
        "pytest",
        "anyio[trio]",
        "uvicorn",
        "trustme",
        "chardet",
    )
    work = Path(session.create_tmp()).resolve()
    sdist = work / f"httpx-{version}.tar.gz"
    if not sdist.exists():
        session.run(
            "python", "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
            f"httpx=={version}", "-d", str(work),
        )  # fmt: skip
    source = work / f"httpx-{version}"
    if not source.exists():
        with tarfile.open(sdist) as archive:
            archive.extractall(work, filter="data")
    _run_suite(session, "httpx", version, source, "tests")


@nox.session
def httpx2_suite(session: nox.Session) -> None:
    """httpx2's own test suite on Trio, with `trio_pool.httpx2`'s transport as
    AsyncClient's default, as ``httpx_suite`` runs httpx's.

    Not part of CI, and it needs the source of httpx2's tests: its sdist on PyPI ships
    none. The session takes them from ``TRIO_POOL_HTTPX2_SOURCE`` (a checkout of
    pydantic/httpx2 at the installed version), or downloads that version's tag from
    GitHub (which needs a network that reaches it).
    """
    session.install("-e", ".[httpx2]")
    version = _version(session, "httpx2")
    session.install(
        f"httpx2[brotli,zstd,cli,http2,socks]=={version}",
        "pytest",
        "anyio[trio]",
        "uvicorn",
        "trustme",
        "chardet",
        "certifi",  # its tests import it; httpx2 itself does not need it
    )
    given = os.environ.get("TRIO_POOL_HTTPX2_SOURCE")
    if given:
        source = Path(given).resolve()
    else:
        work = Path(session.create_tmp()).resolve()
        source = work / f"httpx2-{version}"
        if not source.exists():
            archive_path = work / f"httpx2-{version}.tar.gz"
            url = f"https://codeload.github.com/pydantic/httpx2/tar.gz/refs/tags/{version}"
            session.run("python", "-c", _DOWNLOAD, url, str(archive_path))
            with tarfile.open(archive_path) as archive:
                archive.extractall(work, filter="data")
    _run_suite(session, "httpx2", version, source, "tests/httpx2")


_DOWNLOAD = "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])"


def _version(session: nox.Session, library: str) -> str:
    version = session.run(
        "python", "-c", f"import {library}; print({library}.__version__)", silent=True
    )
    assert isinstance(version, str)
    return version.strip()


def _run_suite(session: nox.Session, library: str, version: str, source: Path, tests: str) -> None:
    """Run ``library``'s tests in ``source`` twice, with its own transport and with the
    balanced one; report both counts, and fail on a test that fails with ours only."""
    here = Path.cwd()
    work = Path(session.create_tmp()).resolve()
    failed: dict[str, set[str]] = {}
    totals: dict[str, int] = {}
    for mode in ("plain", "balanced"):
        report = work / f"{library}-{mode}.xml"
        with session.chdir(source):
            session.run(
                "python", "-m", "pytest", "-p", "tools.httpx_suite", "-p", "no:cacheprovider",
                "-q", "-m", "", f"--junit-xml={report}", *(session.posargs or [tests]),
                env={
                    "TRIO_POOL_HTTPX_SUITE": mode,
                    "TRIO_POOL_HTTPX_SUITE_LIBRARY": library,
                    "PYTHONPATH": str(here),
                },
                success_codes=[0, 1],
            )  # fmt: skip
        failed[mode], totals[mode] = _failed_tests(report)
    only_ours = sorted(failed["balanced"] - failed["plain"])
    only_theirs = sorted(failed["plain"] - failed["balanced"])
    for mode in ("plain", "balanced"):
        session.log(
            f"{library} {version} on Trio, {mode} transport: "
            f"{totals[mode] - len(failed[mode])} passed, {len(failed[mode])} failed"
        )
    for name in only_theirs:
        session.log(f"fails with {library}'s transport only: {name}")
    if only_ours:
        session.error("fail with the balanced transport only:\n  " + "\n  ".join(only_ours))


def _failed_tests(report: Path) -> tuple[set[str], int]:
    """The tests a JUnit XML report says failed or errored, and how many it ran (the
    skipped aside). A test that failed and then errored in its teardown has two entries
    of one name: it counts once."""
    ran: set[str] = set()
    failed: set[str] = set()
    for case in ElementTree.parse(report).iter("testcase"):
        if case.find("skipped") is not None:
            continue
        name = f"{case.get('classname')}::{case.get('name')}"
        ran.add(name)
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(name)
    return failed, len(ran)
