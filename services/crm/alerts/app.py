"""The alerts service's Faust application (only the App; tables, agents and timers elsewhere)."""

import faust

from crm.settings import AlertsSettings


def create_app(settings: AlertsSettings) -> faust.App:
    return faust.App(
        settings.alerts_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",  # rebuilt from the table's changelog on every start
        datadir=str(settings.state_dir / "faust" / settings.alerts_group),
        web_enabled=False,
        autodiscover=False,
        topic_allow_declare=False,  # topics, the changelog included, are created by ensure_topics
        topic_disable_leader=True,
        topic_partitions=settings.topic_partitions,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        stream_wait_empty=False,
        broker_session_timeout=settings.alerts_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.alerts_session_timeout_seconds / 3),
    )
