"""The errors: a tree under PoolError, each constructible from a message like any exception."""

from __future__ import annotations

import pytest

from trio_pool import (
    DispatchTimeoutError,
    FailFastError,
    PoolClosedError,
    PoolError,
    UnavailableError,
)


@pytest.mark.parametrize(
    "kind", [PoolError, FailFastError, UnavailableError, DispatchTimeoutError, PoolClosedError]
)
def test_every_error_is_built_from_a_plain_message(kind: type[PoolError]) -> None:
    error = kind("something went wrong")
    assert str(error) == "something went wrong"
    assert isinstance(error, PoolError)
    with pytest.raises(kind, match="went wrong"):
        raise error


def test_errors_take_no_arguments_too() -> None:
    assert str(FailFastError()) == ""
    assert FailFastError().failfast_timeout is None


def test_the_queue_names_its_failfast_timeout() -> None:
    error = FailFastError.timed_out(2.5, "3 endpoints, 3 backing off")
    assert error.failfast_timeout == 2.5
    assert str(error) == (
        "no endpoint became ready within the failfast timeout of 2.5 s: 3 endpoints, 3 backing off"
    )
