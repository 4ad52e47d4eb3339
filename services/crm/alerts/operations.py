"""The alerts service's operations listener (`/metrics`, `/health`, `/ready`) and the figures it
reads from the read model at each scrape: alerts open, webhook deliveries waiting."""

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db.alert_tables import alert_outbox, alerts, partner_webhooks
from crm.observability import metrics
from crm.observability.listener import OperationsListener
from crm.observability.readiness import KafkaProbe, Readiness
from crm.settings import AlertsSettings


async def count_open_and_waiting(engine: AsyncEngine) -> tuple[int, int]:
    """Alerts not resolved, and outbox entries not delivered to a partner that has a webhook."""
    with_webhook = alert_outbox.join(partner_webhooks, partner_webhooks.c.partner_id == alert_outbox.c.partner_id)
    async with engine.connect() as connection:
        open_alerts = await connection.scalar(
            select(func.count()).select_from(alerts).where(alerts.c.resolved_at.is_(None))
        )
        waiting = await connection.scalar(
            select(func.count()).select_from(with_webhook).where(alert_outbox.c.delivered_at.is_(None))
        )
    return int(open_alerts or 0), int(waiting or 0)


def operations_listener(
    settings: AlertsSettings, engine: AsyncEngine, table_ready: Callable[[], bool]
) -> tuple[OperationsListener, KafkaProbe] | None:
    """The listener when CRM_ALERTS_OPERATIONS_PORT is set, and the Kafka probe to close after it.
    Ready: Kafka and PostgreSQL answer, the schema is current, the pilot table is recovered."""
    if settings.alerts_operations_port is None:
        return None
    kafka = KafkaProbe(settings.kafka)

    async def refresh() -> None:
        open_alerts, waiting = await count_open_and_waiting(engine)
        metrics.ALERTS_OPEN.set(open_alerts)
        metrics.WEBHOOK_BACKLOG.set(waiting)

    readiness = Readiness(
        kafka=kafka.reachable,
        engine=engine,
        states={"table": lambda: "recovered" if table_ready() else "recovering"},
    )
    listener = OperationsListener(
        settings.operations_host, settings.alerts_operations_port, readiness, before_scrape=refresh, service="alerts"
    )
    return listener, kafka
