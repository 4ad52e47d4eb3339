"""Composition root of the query service: settings in, an app (or a running uvicorn server) out."""

from fastapi import FastAPI

from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.db.migrate import prepare_schema
from crm.http_serving import serve
from crm.logs import configure_logging
from crm.query.app import create_app
from crm.query.freshness import FreshnessProbe, KafkaConsumerLag
from crm.settings import QuerySettings, Settings

NEEDED_BY = "The query service"


def build_query_app(settings: Settings) -> FastAPI:
    """Wire engine, token store and freshness probe into the app. Connects only on first use."""
    return _wire(settings, QuerySettings.of(settings, NEEDED_BY))


def run_query(settings: Settings) -> None:
    """`crm query run`: check the schema is current (or migrate it), then one uvicorn worker on
    bind_host:query_port until SIGINT/SIGTERM."""
    query = QuerySettings.of(settings, NEEDED_BY)
    configure_logging(query.log_level, query.log_format)
    prepare_schema(query.database_url, migrate=query.migrate_on_start, needed_by=NEEDED_BY)
    serve(_wire(settings, query), query.serving)


def _wire(settings: Settings, query: QuerySettings) -> FastAPI:
    engine = create_engine(query.database_url, pool_size=query.query_pool_size)
    tokens = TokenStore(create_engine(query.database_url, pool_size=2), ttl=query.token_cache_seconds)
    lag = KafkaConsumerLag(query.kafka, query.events_topic, query.projector_group) if query.kafka else None
    probe = FreshnessProbe(engine, lag, ttl=query.query_freshness_seconds)
    return create_app(settings, engine, tokens, probe)
