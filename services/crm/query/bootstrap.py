"""Composition root of the query service: settings in, an app (or a running uvicorn server) out."""

from fastapi import FastAPI

from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.http_serving import serve
from crm.infra.errors import InfrastructureError
from crm.query.app import create_app
from crm.query.freshness import FreshnessProbe, KafkaConsumerLag
from crm.settings import Settings


def build_query_app(settings: Settings) -> FastAPI:
    """Wire engine, token store and freshness probe into the app. Connects only on first use."""
    if not settings.database_url:
        raise InfrastructureError("The query service needs CRM_DATABASE_URL.")
    engine = create_engine(settings.database_url, pool_size=settings.query_pool_size)
    tokens = TokenStore(create_engine(settings.database_url, pool_size=2), ttl=settings.token_cache_seconds)
    lag = (
        KafkaConsumerLag(settings.kafka_bootstrap, settings.events_topic, settings.projector_group)
        if settings.kafka_bootstrap
        else None
    )
    probe = FreshnessProbe(engine, lag, ttl=settings.query_freshness_seconds)
    return create_app(settings, engine, tokens, probe)


def run_query(settings: Settings) -> None:
    """`crm query run`: one uvicorn worker on bind_host:query_port until SIGINT/SIGTERM."""
    serve(build_query_app(settings), settings, settings.query_port)
