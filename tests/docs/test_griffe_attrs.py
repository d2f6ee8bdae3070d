"""The docs' Griffe extension: attrs classes get their signature and plain defaults."""

from __future__ import annotations

from pathlib import Path

import griffe  # the docs extra: ./dev test and nox -s tests install it
import pytest

from tools.griffe_attrs import AttrsFields, fence_literal_blocks


@pytest.fixture(scope="module")
def package() -> griffe.Module:
    loaded = griffe.load(
        "trio_pool", extensions=griffe.load_extensions(AttrsFields), resolve_aliases=True
    )
    assert isinstance(loaded, griffe.Module)
    return loaded


def signature(package: griffe.Module, path: str) -> list[tuple[str, str, str | None]]:
    cls = package[path]
    return [
        (p.name, p.kind.value, None if p.default is None else str(p.default))
        for p in cls.members["__init__"].parameters
        if p.name != "self"
    ]


def test_fields_show_their_plain_default(package: griffe.Module) -> None:
    decay = package["_pool._load.PeakEwma"].members["decay"]
    assert str(decay.value) == "10.0"
    assert "class-attribute" not in decay.labels


def test_an_attrs_class_gets_the_signature_attrs_generates(package: griffe.Module) -> None:
    assert signature(package, "_pool._load.PeakEwma") == [
        ("default_rtt", "positional or keyword", "0.03"),
        ("decay", "positional or keyword", "10.0"),
        ("failure_penalty", "positional or keyword", "1.0"),
    ]
    # Keyword-only fields come last; a field with a default but no init is left out.
    static = signature(package, "discovery._static.StaticDiscovery")
    assert static == [
        ("endpoints", "positional or keyword", None),
        ("metrics", "keyword-only", "None"),
    ]


def test_fields_of_attrs_bases_come_first(package: griffe.Module) -> None:
    assert [name for name, _, _ in signature(package, "_update.Reset")] == ["endpoints"]


def test_private_fields_take_the_name_attrs_gives_them() -> None:
    module = griffe.visit(
        "sample",
        filepath=Path(__file__),  # any path: the code is given
        code=(
            "import attrs\n"
            "@attrs.define(eq=False)\n"
            "class Thing:\n"
            "    size: int\n"
            "    _rng: object = attrs.field(factory=list)\n"
            "    _hidden: int = attrs.field(default=0, init=False)\n"
            "    named: int = attrs.field(default=1, alias='other', kw_only=True)\n"
        ),
        extensions=griffe.load_extensions(AttrsFields),
    )
    AttrsFields().on_package(pkg=module)
    parameters = module["Thing"].members["__init__"].parameters
    assert [(p.name, str(p.default)) for p in parameters][1:] == [
        ("size", "None"),
        ("rng", "list()"),
        ("other", "1"),
    ]


def test_literal_blocks_become_fenced_code() -> None:
    text = "Use it so::\n\n    async with x() as y:\n        pass\n\nThen more."
    assert fence_literal_blocks(text) == (
        "Use it so:\n\n```python\nasync with x() as y:\n    pass\n```\n\nThen more."
    )
    alone = "Intro.\n\n::\n\n    PoolError\n    └── FailFastError\n"
    assert fence_literal_blocks(alone) == ("Intro.\n\n```text\nPoolError\n└── FailFastError\n```")
    assert fence_literal_blocks("No literal block: a::b") == "No literal block: a::b"


def test_a_class_the_library_makes_shows_no_constructor(package: griffe.Module) -> None:
    # PoolQueue's fields are all private: open_pool_queue makes it, users never do.
    assert "__init__" not in package["_queue._handle.PoolQueue"].members
    # A subclass without fields of its own inherits its base's signature.
    inherited = package["_pool._pools.RoundRobinPool"].all_members["__init__"]
    assert [p.name for p in inherited.parameters][1:] == [
        "new_endpoint",
        "rng",
        "backoff",
        "metrics",
        "outlier",
        "slow_start",
    ]


def test_a_field_with_a_converter_takes_what_the_converter_takes(
    package: griffe.Module,
) -> None:
    parameters = package["_resilience._retry.RetryPolicy"].members["__init__"].parameters
    budget = next(p for p in parameters if p.name == "budget")
    assert str(budget.annotation) == "RetryBudget | None"
    assert str(budget.default) == "None"
