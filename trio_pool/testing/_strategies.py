"""Hypothesis strategies for addresses, updates, update streams and whole scenarios.

Times and sizes are drawn from a few values on purpose: deadlines that coincide with
dispatches, with the failfast timeout and with each other are where races hide.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from hypothesis import strategies as st

from .._update import Add, DoesNotExist, Remove, Reset, Update
from ._mock_endpoint import EndpointKind
from ._scenario import (
    DiscoveryBehaviour,
    DiscoveryFails,
    EndpointFails,
    EndpointRecovers,
    EndpointRejects,
    EndpointSlowsDown,
    FactoryFails,
    Scenario,
    SendUpdate,
    SetPermits,
    Sleep,
    StartCall,
    Step,
    Together,
)

__all__ = ["addresses", "scenarios", "targets", "update_streams", "updates"]

_TIMES = [0.0, 0.5, 1.0, 3.0, 3.5]


def addresses(count: int = 6) -> st.SearchStrategy[Hashable]:
    """``(host, port)`` addresses from a small set, so that updates collide."""
    return st.sampled_from([(f"10.0.0.{i + 1}", 8080) for i in range(count)])


def targets() -> st.SearchStrategy[Any]:
    """Endpoint targets (metadata) from a small set, so that targets change and repeat."""
    return st.sampled_from([None, 1, 2, "zone-a"])


# The parameters below are named after these functions, which they shadow.
_any_address = addresses
_any_target = targets


def updates(
    addresses: st.SearchStrategy[Hashable] | None = None,
    targets: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[Update]:
    """Single valid updates: `Reset`, `Add`, `Remove` and `DoesNotExist`."""
    addr = addresses if addresses is not None else _any_address()
    targ = targets if targets is not None else _any_target()
    pairs = st.dictionaries(addr, targ, max_size=6).map(lambda d: list(d.items()))
    return st.one_of(
        pairs.map(Reset),
        pairs.filter(bool).map(Add),
        st.sets(addr, min_size=1, max_size=3).map(Remove),
        st.just(DoesNotExist()),
    )


def update_streams(
    addresses: st.SearchStrategy[Hashable] | None = None,
    targets: st.SearchStrategy[Any] | None = None,
    *,
    max_size: int = 20,
) -> st.SearchStrategy[list[Update]]:
    """What a discovery source yields: a `Reset` first, then any updates."""
    addr = addresses if addresses is not None else _any_address()
    targ = targets if targets is not None else _any_target()
    first: st.SearchStrategy[Update] = st.dictionaries(addr, targ, max_size=6).map(
        lambda d: Reset(list(d.items()))
    )
    rest = st.lists(updates(addr, targ), max_size=max_size)
    return st.tuples(first, rest).map(lambda fr: [fr[0], *fr[1]])


def scenarios(
    addresses: st.SearchStrategy[Hashable] | None = None,
    targets: st.SearchStrategy[Any] | None = None,
    *,
    max_steps: int = 30,
    discovery_errors: bool = True,
    kinds: st.SearchStrategy[EndpointKind] | None = None,
) -> st.SearchStrategy[Scenario]:
    """Interleavings of updates, calls, cancellations, endpoint failures, rejections and
    slow-downs, factory failures, discovery errors and jumps of virtual time, some of
    them in the same tick, starting with a `Reset`; over endpoints of every
    `EndpointKind` (``kinds`` narrows them), mixed in one pool; half of them with
    retries of failed calls."""
    addr = addresses if addresses is not None else _any_address()
    targ = targets if targets is not None else _any_target()
    kind = kinds if kinds is not None else st.sampled_from(EndpointKind)
    times = st.sampled_from(_TIMES)
    some = st.one_of(st.none(), addr)  # None: every live endpoint
    instant_steps: list[st.SearchStrategy[Step]] = [
        updates(addr, targ).map(SendUpdate),
        st.builds(StartCall, st.one_of(st.none(), times)),
        st.builds(StartCall, st.one_of(st.none(), times), st.booleans()),
        st.builds(SetPermits, some, st.sampled_from([None, 0, 1, 2])),
        st.builds(EndpointFails, some),
        st.builds(EndpointRecovers, some),
        st.builds(EndpointRejects, some, st.booleans()),
        st.builds(EndpointSlowsDown, some, st.sampled_from([0.0, 0.5, 2.0]), st.booleans()),
        st.builds(FactoryFails, addr, st.sampled_from([1, 2])),
    ]
    if discovery_errors:
        instant_steps.append(st.just(DiscoveryFails()))
    instant = st.one_of(*instant_steps)
    step = st.one_of(
        instant,
        times.map(Sleep),
        st.lists(instant, min_size=2, max_size=4).map(Together),
    )
    first: st.SearchStrategy[Step] = st.dictionaries(addr, targ, min_size=1, max_size=6).map(
        lambda d: SendUpdate(Reset(list(d.items())))
    )
    rest = st.lists(step, max_size=max_steps)
    behaviours = (
        st.sampled_from(DiscoveryBehaviour)
        if discovery_errors
        else st.just(DiscoveryBehaviour.CLEAN)
    )
    return st.builds(
        Scenario,
        steps=st.tuples(first, rest).map(_first_then_rest),
        latency=st.sampled_from([0.0, 0.5, 1.0]),
        permits=st.sampled_from([None, 0, 1, 3]),
        kind=kind,
        kinds=st.dictionaries(addr, kind, max_size=3),
        discovery=st.one_of(st.just(DiscoveryBehaviour.CLEAN), behaviours),
        retries=st.sampled_from([0, 0, 1, 2]),
    )


def _first_then_rest(first_rest: tuple[Step, list[Step]]) -> list[Step]:
    first, rest = first_rest
    return [first, *rest]
