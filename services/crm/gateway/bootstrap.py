"""Composition root of the gateway: settings in, an app (or a running uvicorn server) out."""

from fastapi import FastAPI

from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.gateway.app import create_app
from crm.gateway.claims import PostgresEventClaims
from crm.gateway.kafka import KafkaEventSink
from crm.gateway.programmes import RefreshedMemberships
from crm.http_serving import serve
from crm.infra.errors import InfrastructureError
from crm.settings import Settings


def build_gateway(settings: Settings) -> FastAPI:
    """Wire Kafka publisher, token store, event claims and programmes into the app. Connects only
    when the app starts."""
    if not settings.kafka_bootstrap or not settings.database_url:
        raise InfrastructureError("The gateway needs CRM_KAFKA_BOOTSTRAP and CRM_DATABASE_URL.")
    sink = KafkaEventSink(
        settings.kafka_bootstrap, settings.events_topic, publish_timeout=settings.gateway_publish_timeout
    )
    engine = create_engine(settings.database_url)
    tokens = TokenStore(engine, ttl=settings.token_cache_seconds)  # closing it disposes the engine
    programmes = RefreshedMemberships(engine, settings.default_programme, refresh=settings.programme_cache_seconds)
    return create_app(settings, sink, tokens, PostgresEventClaims(engine), programmes)


def run_gateway(settings: Settings) -> None:
    """`crm gateway run`: one uvicorn worker on bind_host:gateway_port until SIGINT/SIGTERM."""
    serve(build_gateway(settings), settings, settings.gateway_port)
