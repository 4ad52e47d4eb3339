"""The whole pipeline on one machine: infrastructure, topics, schema and every service.

Used by `crm up`, `crm demo` and the end-to-end tests, so they all run the same thing.
"""

import asyncio
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial

import structlog

from crm.db.migrate import upgrade_database
from crm.infra.errors import InfrastructureError
from crm.infra.processes import port_accepts, wait_until
from crm.infra.services import ServiceProcess, service_environment
from crm.infra.stack import running_infrastructure, without_password
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
    asyncio.run(ensure_topics(settings.kafka_bootstrap, contract_topics(settings)))
    upgrade_database(settings.database_url)


@contextmanager
def running_pipeline(
    settings: Settings, *, services: tuple[str, ...] = ("projector", "gateway", "alerts", "query")
) -> Iterator[RunningPipeline]:
    """Start what is needed, yield, then stop every process started here, in reverse order."""
    with ExitStack() as stack:
        live = stack.enter_context(running_infrastructure(settings))
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


def run_stack_in_foreground(settings: Settings) -> None:
    """`crm up`: the stack until Ctrl-C or SIGTERM."""
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
        print(f"Kafka:      {pipeline.settings.kafka_bootstrap}")
        print(f"PostgreSQL: {without_password(pipeline.settings.database_url or '')}")
        if settings.database_url is None:
            urls = pipeline.settings.postgres_dir
            print(f'            for the CLI: export CRM_DATABASE_URL="$(cat {urls / "app.url"})"')
            print(f'            for crm sql grant: export CRM_DATABASE_ADMIN_URL="$(cat {urls / "admin.url"})"')
        if "gateway" in pipeline.services:
            print(f"Gateway:    http://{pipeline.settings.bind_host}:{pipeline.settings.gateway_port}/docs")
        if "query" in pipeline.services:
            print(f"Query API:  http://{pipeline.settings.bind_host}:{pipeline.settings.query_port}/docs")
            print(f"Dashboard:  http://{pipeline.settings.bind_host}:{pipeline.settings.query_port}/")
        print("Press Ctrl-C to stop.")
        try:
            while not stop.wait(1.0):
                for name, service in pipeline.services.items():
                    if not service.alive():
                        log.error("service.died", service=name, log=str(service.log_path))
                        service.start()
        except KeyboardInterrupt:
            pass
    log.info("stack.stopped")
