"""The demo's backends: local HTTP servers, one of them slow, one failing now and then."""

from __future__ import annotations

import random

import attrs
import trio

from ._http import Reply

__all__ = ["SLOTS", "Backend", "BackendSpec", "default_backends"]

SLOTS = 4
"""Requests a backend serves at once; more wait for a slot, as on a real server."""

MEAN_LATENCY = 0.010


@attrs.frozen
class BackendSpec:
    """How one backend behaves: its mean latency, and how often it answers 500."""

    name: str
    mean_latency: float = MEAN_LATENCY
    failure_rate: float = 0.0

    @property
    def role(self) -> str:
        if self.failure_rate:
            return f"fails {self.failure_rate:.0%}"
        if self.mean_latency > MEAN_LATENCY:
            return f"{self.mean_latency / MEAN_LATENCY:.0f}x slower"
        return "healthy"


def default_backends(count: int) -> list[BackendSpec]:
    """``count`` backends (>= 3): the first 10x slower, the second failing 20 % of requests."""
    specs = [BackendSpec(f"backend-{i + 1}") for i in range(count)]
    specs[0] = attrs.evolve(specs[0], mean_latency=10 * MEAN_LATENCY)
    specs[1] = attrs.evolve(specs[1], failure_rate=0.2)
    return specs


@attrs.define(eq=False)
class Backend:
    """One backend: answers each request after an exponential latency, SLOTS at a time.

    A failing request takes as long as any other and is answered with a 500.
    """

    spec: BackendSpec
    rng: random.Random
    port: int = 0
    _slots: trio.Semaphore = attrs.field(factory=lambda: trio.Semaphore(SLOTS))

    async def handle(self, method: str, target: str) -> Reply:
        headers = (("x-backend", self.spec.name),)
        async with self._slots:
            await trio.sleep(self.rng.expovariate(1.0 / self.spec.mean_latency))
            failed = self.rng.random() < self.spec.failure_rate
        if failed:
            return Reply(500, b"internal error\n", headers=headers)
        return Reply(200, f"hello from {self.spec.name}\n".encode(), headers=headers)
