"""``import trio_pool.httpx`` without httpx (``trio_pool.httpx2`` without httpx2) names the
extra to install."""

from __future__ import annotations

from tests.support.without_module import import_without

from ._flavour import NAME


def test_without_the_library_the_error_names_its_extra() -> None:
    status, output = import_without(f"trio_pool.{NAME}", NAME)
    assert status == 1
    assert output == (
        f"{NAME}: trio_pool.{NAME} needs {NAME}, from the '{NAME}' extra: "
        f"pip install 'trio-pool[{NAME}]'"
    )


def test_the_core_and_discovery_do_not_need_the_library() -> None:
    assert import_without("trio_pool", NAME) == (0, "imported")
    assert import_without("trio_pool.discovery", NAME) == (0, "imported")


def test_a_missing_dependency_of_the_library_itself_is_not_blamed_on_the_extra() -> None:
    # The library installed but broken (its own dependency missing): the original error.
    status, output = import_without(f"trio_pool.{NAME}", "idna")
    assert status == 1
    assert output == "idna: No module named 'idna'"
