"""`Backoff`: capped exponential delays with jitter."""

from __future__ import annotations

import random

import pytest

from trio_pool import Backoff


def test_backoff_delays_are_capped_and_jittered() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, multiplier=2.0, jitter=0.5)
    rng = random.Random(1)
    for failures, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 4.0), (1000, 4.0)]:
        delays = [backoff.delay(failures, rng) for _ in range(200)]
        assert all(cap / 2 <= d <= cap for d in delays)
        assert max(delays) - min(delays) > cap / 4, "jitter spreads retries"
    with pytest.raises(ValueError, match="jitter must be between 0 and 1"):
        Backoff(jitter=2)
    with pytest.raises(ValueError, match="multiplier must be >= 1"):
        Backoff(multiplier=0.5)
