"""Run an HTTP service's app: migrate the schema, then one uvicorn worker until SIGINT/SIGTERM."""

from fastapi import FastAPI

from crm.settings import Settings


def serve(app: FastAPI, settings: Settings, port: int) -> None:
    """Serve `app` on `settings.bind_host:port` (loopback unless configured otherwise)."""
    import uvicorn

    from crm.db.migrate import upgrade_database
    from crm.http_concurrency import ConcurrencyLimit, Load, uvicorn_backstop
    from crm.http_deadlines import header_deadline_protocol
    from crm.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    assert settings.database_url
    upgrade_database(settings.database_url)
    load, limit = Load(), settings.http_max_connections
    uvicorn.run(
        # past the limit a problem+json 503 with Retry-After, before the app is reached
        ConcurrencyLimit(app, load, limit, settings.gateway_retry_after),
        host=settings.bind_host,
        port=port,
        log_config=None,
        access_log=False,
        loop="auto",  # uvloop when installed
        # httptools' parser, with a deadline for request headers (crm/http_deadlines.py)
        # and counting the open connections for ConcurrencyLimit
        http=header_deadline_protocol(settings.http_header_timeout, load),
        timeout_keep_alive=settings.http_keepalive_timeout,
        limit_concurrency=uvicorn_backstop(limit),  # a net only: ConcurrencyLimit answers first
        timeout_graceful_shutdown=10,
    )
