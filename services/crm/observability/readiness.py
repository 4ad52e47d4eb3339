"""`/ready`: can the service do its job now? Kafka answers, PostgreSQL answers, the schema is current.

Each check is bounded (`timeout` seconds) so a probe never hangs on a server that is away; the
answer names each part (`kafka`, `database`, `schema`) and sets the `crm_ready` gauge.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db.migrate import read_schema_revision
from crm.messaging.connection import KafkaConnection, client_options
from crm.observability import metrics

log = structlog.get_logger(__name__)

KafkaCheck = Callable[[], Awaitable[bool]]
T = TypeVar("T")


async def schema_state(engine: AsyncEngine) -> str:
    """`current` (or migrated by a newer release, which a service accepts at start too: rolling
    upgrades), `behind` (or unmigrated), or `unreachable` when PostgreSQL does not answer."""
    try:
        async with engine.connect() as connection:
            revision = await read_schema_revision(connection)
    except Exception as error:  # the driver's, SQLAlchemy's and the network's errors alike: not ready
        log.debug("ready.database_unreachable", error=repr(error))
        return "unreachable"
    return "current" if revision.current or revision.ahead else "behind"


def client_answers(client: AIOKafkaClient) -> KafkaCheck:
    """A check through a client the service runs anyway (the projector's dead-letter producer's)."""

    async def answers() -> bool:
        try:
            return bool(await client.fetch_all_metadata())
        except (KafkaError, OSError):
            return False

    return answers


class KafkaProbe:
    """A metadata request to the cluster on its own client, connected on the first check (for a
    service whose Kafka clients are a framework's, the alerts service's Faust app)."""

    def __init__(self, kafka: KafkaConnection) -> None:
        self._kafka = kafka
        self._client: AIOKafkaClient | None = None

    async def reachable(self) -> bool:
        try:
            if self._client is None:
                client = AIOKafkaClient(**client_options(self._kafka))
                try:
                    await client.bootstrap()
                except BaseException:
                    await client.close()
                    raise
                self._client = client
            return bool(await self._client.fetch_all_metadata())
        except (KafkaError, OSError):
            return False

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


GOOD = ("reachable", "current", "recovered")


def not_ready(parts: dict[str, str]) -> str:
    """The detail of a 503 from `/ready`: what is wrong (`not ready: kafka unreachable, schema behind`)."""
    return "not ready: " + ", ".join(f"{part} {state}" for part, state in parts.items() if state not in GOOD)


@dataclass(frozen=True, slots=True)
class Readiness:
    """What `/ready` checks: `kafka` (a check, or None when the service does without Kafka), the
    database behind `engine` (None: not checked), and `states` of the service's own (no I/O; ready
    when each is one of `GOOD`)."""

    kafka: KafkaCheck | None = None
    engine: AsyncEngine | None = None
    states: Mapping[str, Callable[[], str]] = field(default_factory=dict)
    timeout: float = 2.0

    async def check(self) -> tuple[bool, dict[str, str]]:
        """Whether the service is ready, and the state of each part."""
        parts: dict[str, str] = {}
        if self.kafka is not None:
            parts["kafka"] = "reachable" if await self._bounded(self.kafka(), False) else "unreachable"
        if self.engine is not None:
            schema = await self._bounded(schema_state(self.engine), "unreachable")
            parts["database"] = "unreachable" if schema == "unreachable" else "reachable"
            if schema != "unreachable":
                parts["schema"] = schema
        for name, state in self.states.items():
            parts[name] = state()
        ready = all(state in GOOD for state in parts.values())
        metrics.READY.set(1 if ready else 0)
        return ready, parts

    async def _bounded(self, check: Awaitable[T], otherwise: T) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await check
        except TimeoutError:
            return otherwise
