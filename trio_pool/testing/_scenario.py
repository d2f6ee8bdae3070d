"""Scenarios: interleavings of discovery updates, calls, endpoint trouble and time."""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, TypeAlias

import attrs

from .._update import Update
from ._mock_endpoint import EndpointKind

__all__ = [
    "DiscoveryBehaviour",
    "DiscoveryFails",
    "EndpointFails",
    "EndpointRecovers",
    "EndpointRejects",
    "EndpointSlowsDown",
    "FactoryFails",
    "Scenario",
    "SendUpdate",
    "SetPermits",
    "Sleep",
    "StartCall",
    "Step",
    "Together",
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
      an `EndpointSlowsDown` with ``failing``, or an `EndpointRejects`);
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
    """The backend at ``address`` fails: the live endpoint's readiness raises from now
    on, and so does that of every endpoint made for the address, until it recovers."""

    address: Hashable | None


@attrs.frozen
class EndpointRecovers:
    """The backend at ``address`` recovers: its endpoints stop failing."""

    address: Hashable | None


@attrs.frozen
class EndpointRejects:
    """While ``rejecting``, the live endpoint at ``address`` raises its own error from
    ``call()`` itself, at once, rather than from the awaitable."""

    address: Hashable | None
    rejecting: bool = True


@attrs.frozen
class FactoryFails:
    """The next ``times`` attempts to make an endpoint for ``address`` raise."""

    address: Hashable
    times: int = 1


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


def _together(steps: Iterable[Step]) -> tuple[Step, ...]:
    steps = tuple(steps)
    if any(isinstance(step, Sleep | Together) for step in steps):
        raise ValueError("Together holds steps that take no time, not Sleep nor Together")
    return steps


@attrs.frozen
class Together:
    """The ``steps`` in the same tick: one after another with no checkpoint between, so
    that updates, calls, cancellations and readiness changes race in one batch of Trio's
    scheduler."""

    steps: tuple[Step, ...] = attrs.field(converter=_together)


class DiscoveryBehaviour(enum.Enum):
    """How the scenario's discovery object behaves besides what its steps say."""

    CLEAN = "clean"
    """An async generator that closes cleanly."""
    AITER_RAISES = "aiter raises"
    """``__aiter__`` raises: the queue closes at once, with that error as the cause."""
    CLOSE_RAISES = "close raises"
    """Its ``aclose()`` raises when the queue closes it."""
    CLOSE_HANGS = "close hangs"
    """Its ``aclose()`` never returns: the queue gives up after its grace period."""


Step: TypeAlias = (
    SendUpdate
    | StartCall
    | SetPermits
    | EndpointFails
    | EndpointRecovers
    | EndpointRejects
    | EndpointSlowsDown
    | FactoryFails
    | Sleep
    | DiscoveryFails
    | Together
)


def _steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(steps)


def _kinds(
    kinds: Mapping[Hashable, EndpointKind] | Iterable[tuple[Hashable, EndpointKind]],
) -> tuple[tuple[Hashable, EndpointKind], ...]:
    pairs = kinds.items() if isinstance(kinds, Mapping) else kinds
    return tuple(sorted(pairs, key=repr))


@attrs.frozen
class Scenario:
    """A sequence of steps, run in order against a pool behind a queue.

    A new endpoint takes ``latency`` seconds per call and accepts ``permits`` calls
    (``None``: any number) until steps script it otherwise. The endpoint made for an
    address takes the shape ``kinds`` gives it (with or without ``ready_nowait()``, a
    ``ready()`` that checkpoints or not; `EndpointKind`), ``kind`` for the others.
    ``discovery`` scripts the discovery object itself. With ``retries``, a call whose
    endpoint fails it (a scripted call error or rejection) is tried again up to that
    many times, through the queue's `RetryPolicy`, which asks the pool for an endpoint
    not tried yet where it can (``call_avoiding``). Run it with `check_pool`
    (generated scenarios) or `run_scenario` (this one, on Trio's virtual clock: in
    pytest, an async test under pytest-trio's ``trio_mode`` with its ``autojump_clock``
    fixture); each `StartCall` then gets one outcome in ``ScenarioReport.outcomes``.
    """

    steps: tuple[Step, ...] = attrs.field(converter=_steps)
    latency: float = 0.0
    permits: int | None = None
    kind: EndpointKind = EndpointKind.NOWAIT
    kinds: tuple[tuple[Hashable, EndpointKind], ...] = attrs.field(default=(), converter=_kinds)
    discovery: DiscoveryBehaviour = DiscoveryBehaviour.CLEAN
    retries: int = attrs.field(default=0, validator=attrs.validators.ge(0))

    def kind_of(self, address: Hashable) -> EndpointKind:
        """The shape of the endpoints made for ``address``."""
        for known, kind in self.kinds:
            if known == address:
                return kind
        return self.kind

    def __repr__(self) -> str:
        lines = ",\n    ".join(repr(step) for step in self.steps)
        options: dict[str, Any] = {"latency": self.latency, "permits": self.permits}
        if self.kind is not EndpointKind.NOWAIT:
            options["kind"] = self.kind
        if self.kinds:
            options["kinds"] = dict(self.kinds)
        if self.discovery is not DiscoveryBehaviour.CLEAN:
            options["discovery"] = self.discovery
        if self.retries:
            options["retries"] = self.retries
        head = ", ".join(f"{name}={value!r}" for name, value in options.items())
        return f"Scenario({head}, steps=[\n    {lines},\n])"
