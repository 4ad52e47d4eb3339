"""Kafka and PostgreSQL for the pipeline: the ones the settings point at, else embedded under .crm/."""

import fcntl
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

import structlog

from crm.errors import InfrastructureError
from crm.local.kafka_broker import KafkaBroker
from crm.local.postgres_server import EmbeddedPostgres
from crm.settings import Settings

log = structlog.get_logger(__name__)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[IO[str]]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InfrastructureError(
                f"Another `crm` process already runs the embedded servers of {lock_path.parent}. "
                "Stop it, or give this one its own CRM_STATE_DIR."
            ) from None
        yield handle


@contextmanager
def running_infrastructure(settings: Settings) -> Iterator[Settings]:
    """Yield settings whose `kafka_bootstrap` and `database_url` point at running servers.

    Whatever this started is stopped on exit, also on an exception or Ctrl-C.
    """
    with ExitStack() as stack:
        updates: dict[str, str] = {}
        if settings.database_url is None:
            stack.enter_context(_exclusive(settings.postgres_dir / ".lock"))
            postgres = stack.enter_context(EmbeddedPostgres(settings.postgres_dir, port=settings.postgres_port))
            updates["database_url"] = postgres.url
            updates["database_admin_url"] = postgres.admin_url
        else:
            log.info("postgres.external", url=without_password(settings.database_url))
        if settings.kafka_bootstrap is None:
            stack.enter_context(_exclusive(settings.kafka_dir / ".lock"))
            broker = stack.enter_context(
                KafkaBroker(settings.kafka_dir, port=settings.kafka_port, heap=settings.kafka_heap)
            )
            updates["kafka_bootstrap"] = broker.bootstrap
        else:
            log.info("kafka.external", bootstrap=settings.kafka_bootstrap)
        yield settings.model_copy(update=updates)


def without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in credentials else url
