"""Discovery metrics: registered on the caller's registry, with the caller's labels."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from trio_pool import Add, DoesNotExist, Remove, Reset
from trio_pool.discovery import ERROR_KINDS, DiscoveryMetricFamilies


def test_families_count_updates_by_source_and_op_and_errors_by_kind() -> None:
    registry = CollectorRegistry()
    families = DiscoveryMetricFamilies.register(registry, labelnames=["service"])
    metrics = families.labels(service="users")
    metrics.record_update("dns", Reset([]))
    metrics.record_update("dns", Add([("a", 1)]))
    metrics.record_update("dns", Add([("b", 1)]))
    metrics.record_update("dns", Remove(["a"]))
    metrics.record_update("file", DoesNotExist())
    for kind in ERROR_KINDS:
        metrics.record_error("etcd", kind)
    metrics.set_endpoints("dns", 3)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"service": "users", **labels})

    updates = "trio_pool_discovery_updates_total"
    assert sample(updates, source="dns", op="reset") == 1
    assert sample(updates, source="dns", op="add") == 2
    assert sample(updates, source="dns", op="remove") == 1
    assert sample(updates, source="file", op="does_not_exist") == 1
    for kind in ERROR_KINDS:
        assert sample("trio_pool_discovery_errors_total", source="etcd", kind=kind) == 1
    assert sample("trio_pool_discovery_endpoints", source="dns") == 3


def test_families_without_label_names() -> None:
    registry = CollectorRegistry()
    metrics = DiscoveryMetricFamilies.register(registry, prefix="app").labels()
    metrics.record_error("file", "invalid")
    assert (
        registry.get_sample_value(
            "app_discovery_errors_total", {"source": "file", "kind": "invalid"}
        )
        == 1
    )


@pytest.mark.parametrize("name", ["source", "op", "kind"])
def test_reserved_label_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=f"label name '{name}' is taken"):
        DiscoveryMetricFamilies.register(CollectorRegistry(), labelnames=[name])


def test_labels_must_match_the_label_names() -> None:
    families = DiscoveryMetricFamilies.register(CollectorRegistry(), labelnames=["service"])
    with pytest.raises(ValueError, match=r"expected values for the label names \['service'\]"):
        families.labels(zone="a")
    with pytest.raises(ValueError, match="expected values"):
        families.labels()


def test_registering_twice_on_one_registry_fails() -> None:
    registry = CollectorRegistry()
    DiscoveryMetricFamilies.register(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        DiscoveryMetricFamilies.register(registry)


def test_record_update_refuses_what_is_not_an_update() -> None:
    metrics = DiscoveryMetricFamilies.register(CollectorRegistry()).labels()
    with pytest.raises(TypeError, match="not an update"):
        metrics.record_update("static", "reset")  # type: ignore[arg-type]
