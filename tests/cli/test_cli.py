"""The ``trio-pool`` command line, as a user meets it: options, errors, Ctrl-C, output."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

import trio_pool
from trio_pool._cli import _only_interrupts, main

DEMO = ["demo", "--metrics-port", "0"]


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"trio-pool {trio_pool.__version__}\n"
    assert trio_pool.__version__ == importlib.metadata.version("trio-pool")


def test_help_shows_a_plain_percent(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert "20% of requests" in " ".join(text.split())
    assert "%%" not in text
    assert "--metrics-port" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backends", "2"], "argument --backends: expected a whole number of backends, "),
        (["--backends", "three"], "argument --backends: expected a whole number"),
        (["--rate", "abc"], "argument --rate: expected a rate > 0, got 'abc'"),
        (["--rate", "0"], "argument --rate: expected a rate > 0, got '0'"),
        (["--duration", "-1"], "argument --duration: expected a number of seconds > 0"),
        (["--duration", "nan"], "argument --duration: expected a number of seconds > 0"),
        (["--duration", "inf"], "argument --duration: expected a number of seconds > 0"),
        (["--metrics-port", "70000"], "argument --metrics-port: expected a port from 0"),
        (["--seed", "1.5"], "argument --seed: expected a whole number, got '1.5'"),
    ],
)
def test_a_bad_option_says_what_it_expected(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    # The demo's own usage, not the top-level one, and no argparse internals.
    assert err.startswith("usage: trio-pool demo ")
    assert f"trio-pool demo: error: {message}" in " ".join(err.split())
    assert "invalid" not in err


def test_no_command_prints_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "usage: trio-pool [-h] [--version] COMMAND" in capsys.readouterr().err


def test_a_busy_metrics_port_is_one_line_with_the_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status = main(["demo", "--metrics-port", str(port), "--duration", "1"])
    assert status == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"trio-pool demo: port {port} of the metrics page is in use "
        "(--metrics-port 0 picks a free one)\n"
    )
    assert captured.out == ""


def test_no_live_prints_where_the_metrics_are_then_a_whole_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "72")  # narrower than the table would like
    status = main([*DEMO, "--no-live", "--duration", "1", "--rate", "50"])
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("trio-pool demo: 6 backends, 50 requests/s through each ")
    assert "metrics at http://127.0.0.1:" in lines[0]
    table = "\n".join(lines[1:])
    assert "metrics" not in table, "the page is gone once the summary prints"
    for label in ("p50 ms", "p99 ms", "success", "failfast errors", "requests"):
        rows = [line for line in lines[1:] if label in line]
        assert len(rows) == 1, f"{label!r} is on one row of its own: {rows}"
        assert rows[0].rstrip(" │").split()[-1][0].isdigit(), f"{label!r} has its figures"


@pytest.fixture
def demo_process(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    live: bool = request.param
    env = dict(os.environ)
    if live:
        env["TTY_COMPATIBLE"] = "1"  # rich: draw the live view, as on a terminal
    argv = [*DEMO, "--duration", "60", "--rate", "20"] + ([] if live else ["--no-live"])
    process = subprocess.Popen(
        [sys.executable, "-m", "trio_pool", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.mark.parametrize("demo_process", [False, True], indirect=True, ids=["no-live", "live"])
def test_ctrl_c_exits_quietly_with_130(demo_process: subprocess.Popen[str]) -> None:
    assert demo_process.stdout is not None
    # The first line shows once the backends and the metrics page are up.
    assert "trio-pool demo" in demo_process.stdout.readline()
    demo_process.send_signal(signal.SIGINT)
    out, err = demo_process.communicate(timeout=30)
    assert demo_process.returncode == 130
    assert err == "trio-pool demo: interrupted\n", "no traceback"
    assert "failfast errors" in out, "the figures so far are on screen"
    if "\x1b[?25l" in out:  # the live view hid the cursor: it must show it again
        assert out.rindex("\x1b[?25h") > out.rindex("\x1b[?25l")


def test_only_a_group_of_interrupts_counts_as_ctrl_c() -> None:
    interrupt = KeyboardInterrupt()
    nested = BaseExceptionGroup("outer", [BaseExceptionGroup("inner", [interrupt])])
    assert _only_interrupts(interrupt)
    assert _only_interrupts(nested)
    assert not _only_interrupts(BaseExceptionGroup("mixed", [interrupt, ValueError("bug")]))
    assert not _only_interrupts(ValueError("bug"))
