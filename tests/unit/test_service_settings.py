"""Each service's view of the settings (`crm.settings`): what it cannot run without is checked
once, when the view is built, and no service reads another's knob."""

import dataclasses

import pytest

from crm.errors import InfrastructureError
from crm.settings import (
    Alerts,
    AlertsSettings,
    Gateway,
    GatewaySettings,
    Projector,
    ProjectorSettings,
    Query,
    QuerySettings,
    Settings,
)

KAFKA = "127.0.0.1:9092"
DATABASE = "postgresql+asyncpg://crm@127.0.0.1/crm"

# Each service's own group of settings; the other groups (where Kafka and PostgreSQL are, topics,
# HTTP, logging, ...) are everyone's.
OWN_GROUP = {GatewaySettings: Gateway, QuerySettings: Query, ProjectorSettings: Projector, AlertsSettings: Alerts}
# Read on purpose: the query service reports the projector's consumer lag, so it names its group.
READS_OF_OTHERS = {(QuerySettings, "projector_group")}


@pytest.mark.parametrize("view", [GatewaySettings, ProjectorSettings, AlertsSettings])
def test_a_service_that_needs_kafka_and_postgresql_names_both_when_neither_is_set(view: type) -> None:
    with pytest.raises(InfrastructureError, match="needs CRM_KAFKA_BOOTSTRAP and CRM_DATABASE_URL"):
        view.of(Settings(kafka_bootstrap=None, database_url=None), "The service")


def test_only_the_missing_one_is_named() -> None:
    with pytest.raises(InfrastructureError) as refused:
        GatewaySettings.of(Settings(kafka_bootstrap=KAFKA, database_url=None), "The gateway")
    assert str(refused.value) == "The gateway needs CRM_DATABASE_URL."


def test_the_query_service_runs_without_kafka_but_not_without_its_database() -> None:
    query = QuerySettings.of(Settings(kafka_bootstrap=None, database_url=DATABASE), "The query service")
    assert (query.database_url, query.kafka_bootstrap) == (DATABASE, None)
    with pytest.raises(InfrastructureError, match="needs CRM_DATABASE_URL"):
        QuerySettings.of(Settings(kafka_bootstrap=KAFKA, database_url=None), "The query service")


def test_each_http_service_answers_503_with_its_own_retry_after_on_its_own_port() -> None:
    settings = Settings(
        kafka_bootstrap=KAFKA, database_url=DATABASE, gateway_retry_after=7, query_retry_after=9, query_port=8101
    )
    gateway = GatewaySettings.of(settings, "The gateway").serving
    query = QuerySettings.of(settings, "The query service").serving
    assert (gateway.port, gateway.retry_after) == (settings.gateway_port, 7)
    assert (query.port, query.retry_after) == (8101, 9)


@pytest.mark.parametrize("view", list(OWN_GROUP))
def test_no_service_reads_another_services_knob(view: type) -> None:
    others = {name for other, group in OWN_GROUP.items() if other is not view for name in group.model_fields}
    borrowed = [f.name for f in dataclasses.fields(view) if f.name in others and (view, f.name) not in READS_OF_OTHERS]
    assert borrowed == []


def test_a_view_holds_the_settings_values() -> None:
    settings = Settings(
        kafka_bootstrap=KAFKA, database_url=DATABASE, projector_batch_seconds=0.5, alerts_batch_seconds=0.3
    )
    alerts = AlertsSettings.of(settings, "The alerts service")
    projector = ProjectorSettings.of(settings, "The projector")
    assert (alerts.alerts_batch_seconds, projector.projector_batch_seconds) == (0.3, 0.5)
    assert all(getattr(alerts, f.name) == getattr(settings, f.name) for f in dataclasses.fields(AlertsSettings))
