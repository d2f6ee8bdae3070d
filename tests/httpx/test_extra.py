"""``import trio_pool.httpx`` without httpx names the extra to install."""

from __future__ import annotations

from tests.support.without_module import import_without


def test_without_httpx_the_error_names_the_httpx_extra() -> None:
    status, output = import_without("trio_pool.httpx", "httpx")
    assert status == 1
    assert output == (
        "httpx: trio_pool.httpx needs httpx, from the 'httpx' extra: pip install 'trio-pool[httpx]'"
    )


def test_the_core_and_discovery_do_not_need_httpx() -> None:
    assert import_without("trio_pool", "httpx") == (0, "imported")
    assert import_without("trio_pool.discovery", "httpx") == (0, "imported")


def test_a_missing_dependency_of_httpx_itself_is_not_blamed_on_the_extra() -> None:
    # httpx installed but broken (its own dependency missing): the original error.
    status, output = import_without("trio_pool.httpx", "idna")
    assert status == 1
    assert output == "idna: No module named 'idna'"
