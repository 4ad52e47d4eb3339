"""The alerts service's Faust application (only the App; tables, agents and timers elsewhere)."""

import faust
from faust.types.auth import CredentialsT

from crm.messaging.connection import KafkaConnection
from crm.settings import AlertsSettings


def create_app(settings: AlertsSettings) -> faust.App:
    return faust.App(
        settings.alerts_group,
        broker=[f"kafka://{address.strip()}" for address in settings.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(settings.kafka),
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


def faust_credentials(kafka: KafkaConnection) -> CredentialsT | None:
    """The TLS and SASL of `kafka` as Faust's credentials (its aiokafka driver turns them back into
    the keyword arguments `crm.messaging.connection.client_options` gives every other client)."""
    security = kafka.security
    context = security.ssl_context() if security.uses_tls else None
    if security.uses_sasl:
        assert security.sasl_password is not None  # checked by Settings
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=security.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
