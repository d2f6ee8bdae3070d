"""The demo ends early, cleanly, when asked to (the command line asks on Ctrl-C)."""

from __future__ import annotations

import trio
from rich.console import Console

from trio_pool._demo import DemoConfig, run_demo


async def test_stop_ends_the_load_early_and_the_summary_says_so() -> None:
    config = DemoConfig(duration=60.0, rate=50.0, metrics_port=0, live=False)
    stop = trio.Event()
    result: dict[str, object] = {}

    async def demo() -> None:
        result.update(await run_demo(config, Console(quiet=True), stop=stop))

    with trio.fail_after(10):  # everything shuts down promptly, not at 60 s
        async with trio.open_nursery() as nursery:
            nursery.start_soon(demo)
            await trio.sleep(1.0)
            stop.set()
    assert result["interrupted"] is True
    assert isinstance(result["elapsed_s"], float)
    assert 0.5 < result["elapsed_s"] < 5.0
    balancers = result["balancers"]
    assert isinstance(balancers, dict)
    assert all(figures["requests"] > 0 for figures in balancers.values())


async def test_a_run_to_its_end_is_not_interrupted() -> None:
    config = DemoConfig(duration=0.5, rate=20.0, metrics_port=0, live=False)
    result = await run_demo(config, Console(quiet=True), stop=trio.Event())
    assert result["interrupted"] is False
    assert result["elapsed_s"] == 0.5
