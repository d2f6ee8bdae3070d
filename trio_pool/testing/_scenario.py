"""Scenarios: interleavings of discovery updates, calls, endpoint trouble and time."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeAlias

import attrs

from .._update import Update

__all__ = [
    "DiscoveryFails",
    "EndpointFails",
    "EndpointRecovers",
    "EndpointSlowsDown",
    "Scenario",
    "SendUpdate",
    "SetPermits",
    "Sleep",
    "StartCall",
    "Step",
]


@attrs.frozen
class SendUpdate:
    """Discovery yields ``update``."""

    update: Update


@attrs.frozen
class StartCall:
    """A new caller sends a request; it gives up after ``cancel_after`` seconds, if set,
    or, with ``cancel_on_dispatch``, at the very moment its request is bound.

    Its outcome, in ``ScenarioReport.outcomes``, is one of:

    - ``"response"``: the endpoint answered;
    - ``"endpoint error"``: the endpoint's own error (``ScriptedEndpointError``, after
      an `EndpointSlowsDown` with ``failing``);
    - ``"failfast"``: ``FailFastError``;
    - ``"closed"``: ``PoolClosedError`` (discovery failed, or the queue was left);
    - ``"cancelled"``: the caller gave up first.
    """

    cancel_after: float | None = None
    cancel_on_dispatch: bool = False


# In the endpoint steps, an ``address`` of ``None`` means every live endpoint.


@attrs.frozen
class SetPermits:
    """The live endpoint at ``address`` accepts ``permits`` more calls (None: any)."""

    address: Hashable | None
    permits: int | None


@attrs.frozen
class EndpointFails:
    """The live endpoint at ``address`` fails: its readiness raises from now on."""

    address: Hashable | None


@attrs.frozen
class EndpointRecovers:
    """The live endpoint at ``address`` stops failing."""

    address: Hashable | None


@attrs.frozen
class EndpointSlowsDown:
    """Calls to the live endpoint at ``address`` take ``latency`` seconds, and raise
    the endpoint's own error if ``failing``."""

    address: Hashable | None
    latency: float
    failing: bool = False


@attrs.frozen
class Sleep:
    """Virtual time passes."""

    seconds: float


@attrs.frozen
class DiscoveryFails:
    """Discovery raises: the queue closes for good."""


Step: TypeAlias = (
    SendUpdate
    | StartCall
    | SetPermits
    | EndpointFails
    | EndpointRecovers
    | EndpointSlowsDown
    | Sleep
    | DiscoveryFails
)


def _steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(steps)


@attrs.frozen
class Scenario:
    """A sequence of steps, run in order against a pool behind a queue.

    A new endpoint takes ``latency`` seconds per call and accepts ``permits`` calls
    (``None``: any number) until steps script it otherwise. Run it with `check_pool`
    (generated scenarios) or `run_scenario` (this one, on Trio's virtual clock: in
    pytest, an async test under pytest-trio's ``trio_mode`` with its ``autojump_clock``
    fixture); each `StartCall` then gets one outcome in ``ScenarioReport.outcomes``.
    """

    steps: tuple[Step, ...] = attrs.field(converter=_steps)
    latency: float = 0.0
    permits: int | None = None

    def __repr__(self) -> str:
        lines = ",\n    ".join(repr(step) for step in self.steps)
        return (
            f"Scenario(latency={self.latency!r}, permits={self.permits!r}, steps=[\n"
            f"    {lines},\n])"
        )
