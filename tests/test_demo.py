"""The demo runs end to end over real loopback HTTP, and shows what it should."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rich.console import Console

from trio_pool._cli import main
from trio_pool._demo import DemoConfig, run_demo


async def test_the_demo_balances_away_from_the_slow_backend() -> None:
    config = DemoConfig(duration=3.0, rate=150.0, metrics_port=0, live=False)
    result = await run_demo(config, Console(quiet=True))
    p2c, round_robin = result["balancers"]["p2c+ewma"], result["balancers"]["round robin"]
    assert p2c["requests"] > 200
    assert round_robin["requests"] > 200
    slow, failing = "backend-1", "backend-2"
    assert result["backends"][slow] == "10x slower"
    assert result["backends"][failing] == "fails 20%"

    def troubled(figures: dict[str, Any]) -> float:
        return float(figures["share"][slow] + figures["share"][failing])

    # Round robin gives each backend its turn; P2C+Peak-EWMA shies away from the slow
    # one and from the one answering 500s (each costs it the failure penalty).
    assert troubled(p2c) < troubled(round_robin) / 2, "P2C+EWMA avoids both"
    assert p2c["success"] > round_robin["success"]
    assert p2c["p50_ms"] < round_robin["p50_ms"]
    # Churn: the last backend joined a third of the way in, the third left at two thirds.
    assert p2c["share"]["backend-6"] > 0
    assert 0 < round_robin["share"]["backend-3"] < 0.2


def test_the_command_line_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["demo", "--duration", "1", "--rate", "50", "--json", "--metrics-port", "0"])
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["balancers"]) == {"p2c+ewma", "round robin"}


def test_the_command_line_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--backends", "2"])
    assert "at least 3" in capsys.readouterr().err
