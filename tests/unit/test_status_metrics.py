"""`crm status --format prometheus` is valid exposition text with the snapshot's figures."""

from datetime import UTC, date, datetime

from prometheus_client.parser import text_string_to_metric_families

from crm.gateway.version_usage import VersionUsage
from crm.projector.status import PartitionLag, ProjectorStatus
from crm.status_metrics import prometheus_text

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_status_in_the_prometheus_format() -> None:
    projector = ProjectorStatus(
        "crm-projector", "crm.events", [PartitionLag(0, 5, 9), PartitionLag(1, None, 3)], 12, AT, None
    )
    versions = [VersionUsage("tehnopol", 1, 40, AT, AT, date(2027, 6, 30)), VersionUsage("sisp", 1, 2, AT, AT, None)]

    text = prometheus_text(projector, versions, {1: date(2027, 6, 30)})
    found = samples(text)

    def at(name: str, **labels: str) -> float:
        return found[name, frozenset(labels.items())]

    group = {"group": "crm-projector", "topic": "crm.events"}
    assert at("crm_projector_consumer_lag", **group, partition="0") == 4
    assert at("crm_projector_consumer_lag", **group, partition="1") == 3
    assert at("crm_projector_applied_events_total") == 12
    assert at("crm_projector_newest_event_timestamp_seconds") == AT.timestamp()
    last_applied = at("crm_projector_last_applied_timestamp_seconds")
    assert last_applied != last_applied  # NaN: never applied
    assert at("crm_gateway_old_version_events_total", partner_id="tehnopol", schema_version="1") == 40
    assert at("crm_gateway_old_version_events_total", partner_id="sisp", schema_version="1") == 2
    sunset = at("crm_contract_version_sunset_timestamp_seconds", schema_version="1")
    assert sunset == datetime(2027, 6, 30, tzinfo=UTC).timestamp()


def test_no_old_versions_and_no_sunsets_leave_their_families_empty() -> None:
    projector = ProjectorStatus("g", "t", [], 0, None, None)
    names = {family.name for family in text_string_to_metric_families(prometheus_text(projector))}
    assert "crm_gateway_old_version_events" in names
    assert not any(name.startswith("crm_gateway_old_version_events") for name, _ in samples(prometheus_text(projector)))
