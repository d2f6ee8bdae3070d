"""Hypothesis strategies for every option the library accepts, across its whole range.

Each draws values at the edges of what the validators take (0 and 1 for fractions, the
smallest and the largest positive floats for seconds, the smallest counts) as well as
values in between: a configuration the library accepts must not break a pool or a
queue, whatever it is.
"""

from __future__ import annotations

import sys

from hypothesis import strategies as st

from trio_pool import Backoff, Hedging, OutlierDetection, RetryBudget, RetryPolicy, SlowStart

_TINY = sys.float_info.min  # the smallest normal float
_SUBNORMAL = 5e-324


def fractions() -> st.SearchStrategy[float]:
    """From 0 to 1, both included, and their neighbours."""
    return st.one_of(
        st.sampled_from([0.0, 1.0, _SUBNORMAL, 1.0 - sys.float_info.epsilon, 0.5]),
        st.floats(min_value=0.0, max_value=1.0),
    )


def open_fractions() -> st.SearchStrategy[float]:
    """Between 0 and 1, both excluded (a percentile), and their neighbours."""
    return st.one_of(
        st.sampled_from([_SUBNORMAL, 1.0 - sys.float_info.epsilon, 1 - 1e-7, 0.95]),
        st.floats(min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True),
    )


def seconds() -> st.SearchStrategy[float]:
    """A positive finite number of seconds, from the tiniest to the largest."""
    return st.one_of(
        st.sampled_from([_SUBNORMAL, _TINY, 1e-9, 1e300, sys.float_info.max]),
        st.floats(min_value=1e-6, max_value=1e6),
    )


def counts(most: int = 8) -> st.SearchStrategy[int]:
    """At least 1, and sometimes huge."""
    return st.one_of(st.integers(min_value=1, max_value=most), st.just(2**62))


def outlier_detections() -> st.SearchStrategy[OutlierDetection]:
    return st.builds(
        OutlierDetection,
        consecutive_failures=st.none() | counts(),
        failure_percentage=st.none() | fractions(),
        interval=st.just(0.001) | seconds().filter(lambda value: value >= 0.001),
        base_ejection=seconds(),
        max_ejection=seconds(),
        max_ejected_percent=fractions(),
        min_requests=counts(),
        panic_threshold=st.none() | fractions(),
    )


def slow_starts() -> st.SearchStrategy[SlowStart]:
    return st.builds(SlowStart, window=seconds(), aggression=seconds(), min_weight=fractions())


def backoffs() -> st.SearchStrategy[Backoff]:
    zero_or_seconds = st.just(0.0) | seconds()
    return st.builds(
        Backoff,
        initial=zero_or_seconds,
        maximum=zero_or_seconds,
        multiplier=st.just(1.0) | st.floats(min_value=1.0, max_value=1e6),
        jitter=fractions(),
    )


def retry_budgets() -> st.SearchStrategy[RetryBudget]:
    return st.builds(
        RetryBudget,
        ttl=st.sampled_from([1.0, 60.0]) | st.floats(min_value=1.0, max_value=60.0),
        min_per_second=st.just(0.0) | st.floats(min_value=0.0, max_value=1e9),
        percent=st.sampled_from([0.0, 10.0]) | st.floats(min_value=0.0, max_value=10.0),
    )


def retry_policies() -> st.SearchStrategy[RetryPolicy]:
    """Retry policies (their ``retry_on`` is the default: the harness sets its own)."""
    return st.builds(
        RetryPolicy,
        attempts=st.integers(min_value=1, max_value=5),
        budget=st.none() | retry_budgets(),
        backoff=st.none() | backoffs(),
        distinct_endpoints=st.booleans(),
    )


def hedgings() -> st.SearchStrategy[Hedging]:
    return st.builds(
        Hedging,
        delay=st.none() | st.just(0.0) | seconds(),
        percentile=open_fractions(),
        max_attempts=st.integers(min_value=2, max_value=4),
        budget=st.none() | retry_budgets(),
    )
