"""The whole pipeline on one machine: the servers (crm.local.servers), topics, schema and every service.

Used by `crm up`, `crm demo` and the end-to-end tests, so they all run the same thing.
"""

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial

import structlog

from crm.db.migrate import upgrade_database
from crm.errors import InfrastructureError
from crm.local.processes import free_port, port_accepts, wait_until
from crm.local.servers import running_infrastructure, without_password
from crm.local.services import ServiceProcess, service_environment
from crm.local.stack_file import StackFile, published_stack, stack_file_path, stack_of_this_process
from crm.messaging.topic_admin import contract_topics, ensure_topics
from crm.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class RunningPipeline:
    settings: Settings
    """Settings with `kafka_bootstrap` and `database_url` of the running servers."""
    services: dict[str, ServiceProcess]


def prepare_infrastructure(settings: Settings) -> None:
    """Topics with their retention, and the read-model schema. Idempotent."""
    assert settings.kafka_bootstrap and settings.database_url
    asyncio.run(
        ensure_topics(settings.kafka, contract_topics(settings), accept_config=settings.kafka_accept_topic_config)
    )
    upgrade_database(settings.database_url)


@contextmanager
def running_pipeline(
    settings: Settings, *, services: tuple[str, ...] = ("projector", "gateway", "alerts", "query")
) -> Iterator[RunningPipeline]:
    """Start what is needed, yield, then stop every process started here, in reverse order."""
    with ExitStack() as stack:
        live = _with_operations_ports(stack.enter_context(running_infrastructure(settings)))
        prepare_infrastructure(live)
        env = service_environment(live)
        logs = live.state_dir / "logs"
        started: dict[str, ServiceProcess] = {}
        if "projector" in services:
            started["projector"] = stack.enter_context(
                ServiceProcess("projector", ["projector", "run"], env, logs / "projector.log")
            )
        if "gateway" in services:
            started["gateway"] = stack.enter_context(
                ServiceProcess("gateway", ["gateway", "run"], env, logs / "gateway.log")
            )
        if "alerts" in services:
            started["alerts"] = stack.enter_context(
                ServiceProcess("alerts", ["alerts", "run"], env, logs / "alerts.log")
            )
        if "query" in services:
            started["query"] = stack.enter_context(ServiceProcess("query", ["query", "run"], env, logs / "query.log"))
        yield RunningPipeline(live, started)


def _with_operations_ports(settings: Settings) -> Settings:
    """The projector's and the alerts service's /metrics, /health and /ready listeners, on free
    ports unless the settings name them (docs/operations.md "What to watch")."""
    ports = {
        field: free_port(settings.operations_host)
        for field in ("projector_operations_port", "alerts_operations_port")
        if getattr(settings, field) is None
    }
    return settings.model_copy(update=ports) if ports else settings


HTTP_PORTS = {"gateway": "gateway_port", "query": "query_port"}


def wait_for_http_services(pipeline: RunningPipeline, timeout: float = 60.0) -> None:
    """Block until every started HTTP service accepts connections; raise if one died or hung."""
    live = pipeline.settings
    for name, field in HTTP_PORTS.items():
        service = pipeline.services.get(name)
        if service is None:
            continue
        port = int(getattr(live, field))
        wait_until(partial(_opened_or_dead, live.bind_host, port, service), timeout)
        if not port_accepts(live.bind_host, port):
            raise InfrastructureError(
                f"the {name} service did not open {live.bind_host}:{port} within {timeout:.0f}s; see {service.log_path}"
            )


def _opened_or_dead(host: str, port: int, service: ServiceProcess) -> bool:
    return port_accepts(host, port) or not service.alive()


def http_url(pipeline: RunningPipeline, service: str) -> str | None:
    """`http://host:port` of a started HTTP service (gateway, query), else None."""
    if service not in pipeline.services:
        return None
    return f"http://{pipeline.settings.bind_host}:{getattr(pipeline.settings, HTTP_PORTS[service])}"


def stack_record(pipeline: RunningPipeline, *, embedded_database: bool) -> StackFile:
    """What the stack file says of this process's running pipeline (the administrator's URL only
    of a database this process started)."""
    live = pipeline.settings
    assert live.kafka_bootstrap and live.database_url
    return stack_of_this_process(
        live.kafka_bootstrap,
        live.database_url,
        live.database_admin_url if embedded_database else None,
        http_url(pipeline, "gateway"),
        http_url(pipeline, "query"),
    )


def run_stack_in_foreground(settings: Settings, on_ready: Callable[[RunningPipeline, bool], None]) -> None:
    """`crm up`: the stack until Ctrl-C or SIGTERM, recorded in `<state dir>/stack.json` while it
    runs; `on_ready(pipeline, published)` once it serves (published: whether the file is ours)."""
    from crm.logs import configure_logging

    configure_logging(settings.log_level, "console")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with running_pipeline(settings) as pipeline:
        wait_for_http_services(pipeline)
        log.info(
            "stack.ready",
            kafka=pipeline.settings.kafka_bootstrap,
            database=without_password(pipeline.settings.database_url or ""),
            logs=str(pipeline.settings.state_dir / "logs"),
        )
        record = stack_record(pipeline, embedded_database=settings.database_url is None)
        with published_stack(stack_file_path(settings.state_dir), record) as published:
            on_ready(pipeline, published)
            try:
                while not stop.wait(1.0):
                    for name, service in pipeline.services.items():
                        if not service.alive():
                            log.error("service.died", service=name, log=str(service.log_path))
                            service.start()
            except KeyboardInterrupt:
                pass
    log.info("stack.stopped")
