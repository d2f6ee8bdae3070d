"""The ``trio-pool`` command line (also ``python -m trio_pool``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import trio

__all__ = ["main"]


def _positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="trio-pool", description="A Trio-native client-side load balancer."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="balance local HTTP backends with P2C+Peak-EWMA and round robin, side by side",
        description=(
            "Start local HTTP backends (one 10x slower, one failing 20%% of requests), a "
            "discovery stream that adds one backend and removes another mid-run, and send "
            "the same open-loop load through a P2C+Peak-EWMA balancer and a round-robin one."
        ),
    )
    demo.add_argument("--duration", type=_positive(float), default=20.0, help="seconds")
    demo.add_argument(
        "--rate", type=_positive(float), default=200.0, help="requests/s per balancer"
    )
    demo.add_argument("--backends", type=_positive(int), default=6, help="at least 3")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--metrics-port", type=int, default=9464, help="port of the /metrics page (0: any)"
    )
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--no-live", action="store_true", help="no live view, summary only")
    args = parser.parse_args(argv)

    # The demo's dependencies are an extra: import them only when the demo runs.
    try:
        from rich.console import Console  # noqa: PLC0415

        from ._demo import DemoConfig, run_demo  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the installation
        print(f"the demo needs the 'demo' extra: pip install 'trio-pool[demo]' ({exc})")
        return 2
    if args.backends < 3:
        parser.error("--backends must be at least 3")
    config = DemoConfig(
        duration=args.duration,
        rate=args.rate,
        backends=args.backends,
        seed=args.seed,
        metrics_port=args.metrics_port,
        json=args.json,
        live=not args.no_live,
    )
    console = Console()
    try:
        trio.run(run_demo, config, console)
    except KeyboardInterrupt:
        console.print("interrupted; everything was shut down")
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
