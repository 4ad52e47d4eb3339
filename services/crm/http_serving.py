"""Run an HTTP service's app: one uvicorn worker until SIGINT/SIGTERM. Serving only: the
composition root configures logging and checks the schema revision before it serves."""

from fastapi import FastAPI

from crm.settings import HttpServing


def serve(app: FastAPI, serving: HttpServing) -> None:
    """Serve `app` on `serving.host:serving.port` (loopback unless configured otherwise)."""
    import uvicorn

    from crm.http_concurrency import ConcurrencyLimit, Load, uvicorn_backstop
    from crm.http_deadlines import header_deadline_protocol

    load, limit = Load(), serving.max_connections
    uvicorn.run(
        # past the limit a problem+json 503 with Retry-After, before the app is reached
        ConcurrencyLimit(app, load, limit, serving.retry_after),
        host=serving.host,
        port=serving.port,
        log_config=None,
        access_log=False,
        loop="auto",  # uvloop when installed
        # httptools' parser, with a deadline for request headers (crm/http_deadlines.py)
        # and counting the open connections for ConcurrencyLimit
        http=header_deadline_protocol(serving.header_timeout, load),
        timeout_keep_alive=serving.keepalive_timeout,
        limit_concurrency=uvicorn_backstop(limit),  # a net only: ConcurrencyLimit answers first
        timeout_graceful_shutdown=10,
    )
