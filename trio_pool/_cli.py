"""The ``trio-pool`` command line (also ``python -m trio_pool``).

Exit statuses: 0 when the command ran to its end, 1 when it could not run (the demo's
metrics port is in use), 2 for a usage error (argparse's), 130 when interrupted (Ctrl-C),
as shells report a process ended by SIGINT.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

import trio

from . import __version__
from ._nursery import raise_single

if TYPE_CHECKING:
    from rich.console import Console

    from ._demo import DemoConfig

__all__ = ["main"]

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _number(
    kind: Callable[[str], float], what: str, *, minimum: float, maximum: float = math.inf
) -> Callable[[str], float]:
    """An argparse ``type``: ``kind(text)`` from ``minimum`` to ``maximum``, finite.

    argparse names the ``type`` function in its message when it raises ``ValueError``
    ("invalid parse value"), so every bad input is turned into a sentence here.
    """

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (math.isfinite(value) and minimum <= value <= maximum):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trio-pool", description="A Trio-native client-side load balancer."
    )
    parser.add_argument("--version", action="version", version=f"trio-pool {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help=(
            "balance local HTTP backends with P2C+Peak-EWMA, least loaded and round robin, "
            "side by side"
        ),
        # argparse %-formats help strings, not descriptions: a plain "%" here.
        description=(
            "Start local HTTP backends (one 10x slower, one failing 20% of requests), a "
            "discovery stream that adds one backend and removes another mid-run, and send "
            "the same open-loop load through a P2C+Peak-EWMA balancer, a least-loaded one "
            "and a round-robin one."
        ),
    )
    demo.add_argument(
        "--duration",
        type=_number(float, "a number of seconds > 0", minimum=math.ulp(0)),
        default=20.0,
        help="seconds of load (default: %(default)s)",
    )
    demo.add_argument(
        "--rate",
        type=_number(float, "a rate > 0", minimum=math.ulp(0)),
        default=200.0,
        help="requests per second through each balancer (default: %(default)s)",
    )
    demo.add_argument(
        "--backends",
        type=_number(int, "a whole number of backends, at least 3", minimum=3),
        default=6,
        help="how many backends, at least 3 (default: %(default)s)",
    )
    demo.add_argument(
        "--seed",
        type=_number(int, "a whole number", minimum=-math.inf),
        default=1,
        help="seed of the backends' and the load's randomness (default: %(default)s)",
    )
    demo.add_argument(
        "--metrics-port",
        type=_number(int, "a port from 0 to 65535", minimum=0, maximum=65535),
        default=9464,
        help="port of the Prometheus /metrics page on 127.0.0.1; 0 picks a free one "
        "(default: %(default)s)",
    )
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument(
        "--no-live", action="store_true", help="no live view: print the summary at the end"
    )
    return parser


def _only_interrupts(error: BaseException) -> bool:
    """Whether ``error`` is Ctrl-C: a ``KeyboardInterrupt``, or a group of nothing else.

    Trio raises the interrupt in the main task, so it leaves every nursery on the way
    out wrapped in a ``BaseExceptionGroup``.
    """
    if isinstance(error, BaseExceptionGroup):
        _, rest = error.split(KeyboardInterrupt)
        return rest is None
    return isinstance(error, KeyboardInterrupt)


async def _run_demo_until_interrupted(config: DemoConfig, console: Console) -> bool:
    """Run the demo; the first Ctrl-C ends it early, a second one at once.

    Return whether it was interrupted. Trio's own handling of Ctrl-C raises
    ``KeyboardInterrupt`` wherever the main task happens to be, even inside the live
    view's set-up, which would then leave the terminal without its cursor: receiving
    the signal instead lets every block end as it should, and the summary show.
    """
    from ._demo import run_demo  # noqa: PLC0415 - the demo's dependencies are an extra

    stop = trio.Event()

    async def on_signals(signals: AsyncIterator[int]) -> None:
        async for _ in signals:
            if stop.is_set():
                raise KeyboardInterrupt  # the second one: stop waiting for a clean end
            stop.set()

    with trio.open_signal_receiver(signal.SIGINT) as signals:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(on_signals, signals)
                await run_demo(config, console, stop=stop)
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise_single(group)
    return stop.is_set()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    try:
        return _main(argv)
    except BaseException as exc:
        if not _only_interrupts(exc):
            raise
        # Everything was shut down on the way out (the nurseries saw to it).
        print("trio-pool demo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)

    # The demo's dependencies are an extra: import them only when the demo runs.
    try:
        from rich.console import Console  # noqa: PLC0415

        from ._demo import DemoConfig, DemoError  # noqa: PLC0415
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installation
        print(
            f"trio-pool demo: needs {exc.name}, from the 'demo' extra: "
            "pip install 'trio-pool[demo]'",
            file=sys.stderr,
        )
        return EXIT_FAILED
    config = DemoConfig(
        duration=args.duration,
        rate=args.rate,
        backends=args.backends,
        seed=args.seed,
        metrics_port=args.metrics_port,
        json=args.json,
        live=not args.no_live,
    )
    try:
        interrupted = trio.run(_run_demo_until_interrupted, config, Console())
    except DemoError as exc:
        print(f"trio-pool demo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if interrupted:
        print("trio-pool demo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
