"""structlog set-up: JSON lines from services, readable lines in a terminal."""

import logging
import sys
from typing import Literal

import structlog


def configure_logging(level: str = "info", log_format: Literal["auto", "json", "console"] = "auto") -> None:
    """Route structlog and the standard library (Faust, aiokafka, uvicorn) to one stream.

    `auto` writes JSON lines unless stderr is a terminal. A line carries the keyword arguments of
    its call (`log.info("events.refused", status=422)`) and the context bound with
    `structlog.contextvars` (the gateway binds each request's `request_id` and `partner_id`,
    crm.observability.request_ids).
    """
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info if as_json else _keep,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _keep(_: object, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    return event_dict
