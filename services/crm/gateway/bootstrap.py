"""Composition root of the gateway: settings in, an app (or a running uvicorn server) out."""

from fastapi import FastAPI

from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.db.migrate import prepare_schema
from crm.gateway.app import create_app
from crm.gateway.claims import PostgresEventClaims
from crm.gateway.kafka import KafkaEventSink
from crm.gateway.programmes import RefreshedMemberships
from crm.http_serving import serve
from crm.logs import configure_logging
from crm.settings import GatewaySettings, Settings

NEEDED_BY = "The gateway"


def build_gateway(settings: Settings) -> FastAPI:
    """Wire Kafka publisher, token store, event claims and programmes into the app. Connects only
    when the app starts."""
    return _wire(settings, GatewaySettings.of(settings, NEEDED_BY))


def run_gateway(settings: Settings) -> None:
    """`crm gateway run`: check the schema is current (or migrate it), then one uvicorn worker on
    bind_host:gateway_port until SIGINT/SIGTERM."""
    gateway = GatewaySettings.of(settings, NEEDED_BY)
    configure_logging(gateway.log_level, gateway.log_format)
    prepare_schema(gateway.database_url, migrate=gateway.migrate_on_start, needed_by=NEEDED_BY)
    serve(_wire(settings, gateway), gateway.serving)


def _wire(settings: Settings, gateway: GatewaySettings) -> FastAPI:
    sink = KafkaEventSink(gateway.kafka, gateway.events_topic, publish_timeout=gateway.gateway_publish_timeout)
    engine = create_engine(gateway.database_url)
    tokens = TokenStore(engine, ttl=gateway.token_cache_seconds)  # closing it disposes the engine
    programmes = RefreshedMemberships(engine, gateway.default_programme, refresh=gateway.programme_cache_seconds)
    # The app takes its limits and Retry-After from `settings` (`Limits.from_settings`).
    return create_app(settings, sink, tokens, PostgresEventClaims(engine), programmes, database=engine)
