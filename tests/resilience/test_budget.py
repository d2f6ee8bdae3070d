"""`RetryBudget` and the balance a queue keeps under it: Finagle's semantics, exactly."""

from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_pool import BudgetAccount, RetryBudget


def test_defaults_are_finagles() -> None:
    budget = RetryBudget()
    assert (budget.ttl, budget.min_per_second, budget.percent) == (10.0, 10.0, 0.2)


def test_a_budget_is_a_frozen_value() -> None:
    budget = RetryBudget(ttl=5, min_per_second=1, percent=0.5)
    assert budget == RetryBudget(ttl=5.0, min_per_second=1.0, percent=0.5)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        budget.percent = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("ttl", [1, 1.0, 30, 60])
def test_ttl_within_one_and_sixty_seconds(ttl: float) -> None:
    assert RetryBudget(ttl=ttl).ttl == ttl


@pytest.mark.parametrize("ttl", [0, 0.999, 60.001, -1, math.inf, math.nan])
def test_ttl_out_of_range(ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl must be between 1 and 60 seconds"):
        RetryBudget(ttl=ttl)


@pytest.mark.parametrize("percent", [0, 0.0, 0.2, 1, 10, 10.0])
def test_percent_within_zero_and_ten(percent: float) -> None:
    assert RetryBudget(percent=percent).percent == percent


@pytest.mark.parametrize("percent", [-0.01, 10.01, math.inf, math.nan])
def test_percent_out_of_range(percent: float) -> None:
    with pytest.raises(ValueError, match=r"percent must be between 0 and 10 \(0 to 1000 %"):
        RetryBudget(percent=percent)


@pytest.mark.parametrize("rate", [-1, math.inf, math.nan])
def test_min_per_second_out_of_range(rate: float) -> None:
    with pytest.raises(ValueError, match="min_per_second must be a finite number >= 0"):
        RetryBudget(min_per_second=rate)


@pytest.mark.parametrize("field", ["ttl", "min_per_second", "percent"])
@pytest.mark.parametrize("value", ["1", None, True, [1]])
def test_fields_must_be_numbers(field: str, value: object) -> None:
    with pytest.raises(TypeError, match=f"{field} must be a number"):
        RetryBudget(**{field: value})  # type: ignore[arg-type]


def test_positional_arguments_follow_finagles_order() -> None:
    assert RetryBudget(5, 2, 0.1) == RetryBudget(ttl=5, min_per_second=2, percent=0.1)


def test_the_reserve_alone_allows_min_per_second_times_ttl() -> None:
    account = RetryBudget(ttl=2, min_per_second=3, percent=0).open_account(0.0)
    assert account.balance(0.0) == 6
    assert [account.try_withdraw(0.5) for _ in range(7)] == [True] * 6 + [False]
    assert account.balance(0.5) == 0
    # Withdrawals expire as deposits do: after ttl, the reserve is whole again.
    assert not account.try_withdraw(2.0)
    assert account.try_withdraw(2.6)
    assert account.balance(2.6) == 5


def test_each_request_deposits_percent_of_a_retry() -> None:
    account = RetryBudget(ttl=10, min_per_second=0, percent=0.2).open_account(0.0)
    for _ in range(10):
        account.deposit(1.0)
    assert account.balance(1.0) == pytest.approx(2.0)
    assert [account.try_withdraw(1.0) for _ in range(3)] == [True, True, False]


def test_deposits_expire_after_ttl() -> None:
    account = RetryBudget(ttl=10, min_per_second=0, percent=1).open_account(0.0)
    account.deposit(0.5)
    # Counted in ten slices of a second: gone by ttl, never before 0.9 ttl.
    assert account.balance(9.0) == 1
    assert account.balance(9.99) == 1
    assert account.balance(10.0) == 0
    assert not account.try_withdraw(10.0)


def test_fractions_of_a_retry_add_up_exactly() -> None:
    account = RetryBudget(ttl=10, min_per_second=0, percent=0.1).open_account(0.0)
    for _ in range(9):
        account.deposit(0.0)
    assert not account.try_withdraw(0.0), "nine tenths of a retry is not one"
    account.deposit(0.0)
    assert account.try_withdraw(0.0)


def test_an_empty_budget_refuses_every_retry() -> None:
    account = RetryBudget(min_per_second=0, percent=0).open_account(0.0)
    for _ in range(100):
        account.deposit(0.0)
    assert not account.try_withdraw(0.0)
    assert account.balance(0.0) == 0


def test_a_long_idle_period_clears_every_slice() -> None:
    account = RetryBudget(ttl=1, min_per_second=0, percent=1).open_account(0.0)
    account.deposit(0.0)
    account.deposit(0.35)
    assert account.balance(1e6) == 0
    account.deposit(1e6)
    assert account.balance(1e6 + 0.5) == 1


def test_an_account_keeps_its_budget() -> None:
    budget = RetryBudget(percent=0.5)
    account = budget.open_account(0.0)
    assert isinstance(account, BudgetAccount)
    assert account.budget is budget
    assert budget.open_account(0.0) is not account, "each queue gets a balance of its own"


def test_a_steady_storm_is_held_to_percent_plus_the_reserve() -> None:
    # 100 requests per second for a minute, each failing and asking for two retries.
    budget = RetryBudget(ttl=10, min_per_second=10, percent=0.2)
    account = budget.open_account(0.0)
    requests = retries = 0
    for tick in range(6000):
        now = tick / 100
        account.deposit(now)
        requests += 1
        for _ in range(2):
            if account.try_withdraw(now):
                retries += 1
    # The reserve is there for each ttl-long window: 100 retries at the start, then 10/s.
    bound = budget.percent * requests + budget.min_per_second * (60 + budget.ttl)
    assert retries <= bound
    assert retries >= budget.percent * requests, "the budget grants what it promises"


# -- the model: Finagle's windowed leaky bucket, written out plainly -----------------------


class ModelAccount:
    """Every deposit and withdrawal kept with its slice; counted while within ten."""

    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget
        self.width = budget.ttl / 10
        self.entries: list[tuple[int, float]] = []

    def counted(self, now: float) -> float:
        epoch = math.floor(now / self.width)
        return sum(amount for at, amount in self.entries if at > epoch - 10)

    def deposit(self, now: float) -> None:
        self.entries.append((math.floor(now / self.width), self.budget.percent))

    def try_withdraw(self, now: float) -> bool:
        reserve = self.budget.min_per_second * self.budget.ttl
        if self.counted(now) + reserve < 1 - 1e-9:
            return False
        self.entries.append((math.floor(now / self.width), -1.0))
        return True


@given(
    budget=st.builds(
        RetryBudget,
        ttl=st.sampled_from([1.0, 2.5, 10.0, 60.0]),
        min_per_second=st.sampled_from([0.0, 0.1, 1.0, 3.0]),
        percent=st.sampled_from([0.0, 0.05, 0.2, 0.5, 1.0, 10.0]),
    ),
    steps=st.lists(
        st.tuples(st.sampled_from(["deposit", "withdraw"]), st.floats(0, 30)), max_size=200
    ),
)
def test_the_account_agrees_with_the_model(
    budget: RetryBudget, steps: list[tuple[str, float]]
) -> None:
    account, model = budget.open_account(0.0), ModelAccount(budget)
    now = 0.0
    for op, advance in steps:
        now += advance if advance > 1 else 0.0  # often several steps in one instant
        if op == "deposit":
            account.deposit(now)
            model.deposit(now)
        else:
            assert account.try_withdraw(now) == model.try_withdraw(now), (op, now)
        reserve = budget.min_per_second * budget.ttl
        assert account.balance(now) == pytest.approx(max(0.0, model.counted(now) + reserve))
