"""``import trio_pool.testing`` without Hypothesis names the extra to install."""

from __future__ import annotations

from tests.support.without_module import import_without


def test_without_hypothesis_the_error_names_the_testing_extra() -> None:
    status, output = import_without("trio_pool.testing", "hypothesis")
    assert status == 1
    assert output == (
        "hypothesis: trio_pool.testing needs Hypothesis, from the 'testing' extra: "
        "pip install 'trio-pool[testing]'"
    )


def test_the_core_does_not_need_hypothesis() -> None:
    assert import_without("trio_pool", "hypothesis") == (0, "imported")
