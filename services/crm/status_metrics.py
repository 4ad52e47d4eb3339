"""`crm status --format prometheus`: the pipeline's status in the Prometheus text format.

For a node-exporter textfile collector or a scrape through a small wrapper. Built with
prometheus_client from one snapshot (`ProjectorStatus`, the gateway's `VersionUsage` rows), so the
figures come from Kafka and PostgreSQL, not from one process's memory: they are the same whichever
gateway or projector instance did the work, and survive restarts.
"""

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crm.contract.lifecycle import start_of
from crm.gateway.version_usage import VersionUsage
from crm.projector.status import ProjectorStatus


def _seconds(at: datetime | None) -> float:
    return float("nan") if at is None else at.timestamp()


class _Snapshot(Collector):
    def __init__(
        self, projector: ProjectorStatus, versions: Iterable[VersionUsage], sunsets: Mapping[int, date]
    ) -> None:
        self._projector = projector
        self._versions = list(versions)
        self._sunsets = dict(sunsets)

    def collect(self) -> Iterator[Metric]:
        status = self._projector
        lag = GaugeMetricFamily(
            "crm_projector_consumer_lag",
            "Events in crm.events not yet committed by the projector group.",
            labels=["group", "topic", "partition"],
        )
        for p in status.partitions:
            lag.add_metric([status.group, status.topic, str(p.partition)], p.lag)
        yield lag
        yield CounterMetricFamily(
            "crm_projector_applied_events", "Events recorded as applied in the read models.", status.applied_events
        )
        yield GaugeMetricFamily(
            "crm_projector_newest_event_timestamp_seconds",
            "occurred_at of the newest applied event.",
            _seconds(status.newest_occurred_at),
        )
        yield GaugeMetricFamily(
            "crm_projector_last_applied_timestamp_seconds",
            "When the projector last applied an event.",
            _seconds(status.last_applied_at),
        )
        old = CounterMetricFamily(
            "crm_gateway_old_version_events",
            "Distinct events the gateway accepted in an older contract version, per partner.",
            labels=["partner_id", "schema_version"],
        )
        last = GaugeMetricFamily(
            "crm_gateway_old_version_last_accepted_timestamp_seconds",
            "When the gateway last accepted an event of that older contract version from the partner.",
            labels=["partner_id", "schema_version"],
        )
        for usage in self._versions:
            labels = [usage.partner_id, str(usage.schema_version)]
            old.add_metric(labels, usage.events)
            last.add_metric(labels, usage.last_at.timestamp())
        yield old
        yield last
        sunset = GaugeMetricFamily(
            "crm_contract_version_sunset_timestamp_seconds",
            "From this instant the gateway refuses the contract version (CRM_CONTRACT_SUNSETS).",
            labels=["schema_version"],
        )
        for version, day in sorted(self._sunsets.items()):
            sunset.add_metric([str(version)], start_of(day).timestamp())
        yield sunset


def prometheus_text(
    projector: ProjectorStatus, versions: Iterable[VersionUsage] = (), sunsets: Mapping[int, date] | None = None
) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(projector, versions, sunsets or {}))
    return generate_latest(registry).decode()
