"""The fault suite's harness: a dedicated stack, steady load through the real gateway, settle and verify.

Everything runs on 127.0.0.1. The load generator is a plain thread with a synchronous httpx client,
so the test's main thread stays free to kill and restart processes and servers (and child
processes keep the main thread as the one that forked them: their parent-death signal stays armed).
"""

import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select

from crm.contract.decoding import decode_alert, encode_event
from crm.contract.events import AlertEvent, DomainEvent
from crm.db.alert_tables import alerts, applied_alert_events
from crm.db.engine import create_engine
from crm.db.tables import applied_events
from crm.gateway.client import RETRYABLE
from crm.local.kafka_broker import KafkaBroker
from crm.local.postgres_server import EmbeddedPostgres
from crm.local.processes import free_port, log_tail, wait_until
from crm.local.services import ServiceProcess, service_environment
from crm.messaging.connection import client_options
from crm.settings import Settings
from tests.support.gateway import create_token
from tests.support.histories import PARTNERS
from tests.support.isolation import isolated_settings, plain_dsn
from tests.support.pipeline import read_models
from tests.support.reference import reference_models
from tests.support.security import secrets_in_files, token_secrets

REPORT_ENV = "CRM_FAULTS_REPORT"
log = structlog.get_logger(__name__)


@dataclass
class FaultStack:
    """A Kafka broker and a PostgreSQL server of the suite's own, restartable on the same port and data."""

    broker: KafkaBroker
    postgres: EmbeddedPostgres
    root: Path

    @property
    def base(self) -> Settings:
        return Settings().model_copy(
            update={
                "state_dir": self.root / "state",
                "kafka_bootstrap": self.broker.bootstrap,
                "database_url": self.postgres.url,
            }
        )

    def restart_kafka(self) -> None:
        self.broker.stop()
        self.broker.start()

    def refuse_connections(self, for_seconds: float) -> None:
        """PostgreSQL stays up, but pg_hba rejects every connection for `for_seconds`: a reject rule
        and a reload (SIGHUP), and the client sessions open at that moment terminated (a reload does
        not affect them), so each pool must reconnect and is refused. Then the rule goes, reload."""
        asyncio.run(_refuse_connections(self.postgres, for_seconds))

    def restart_postgres(self, down_for: float = 0.0) -> None:
        """Stop PostgreSQL (fast shutdown: every connection is cut), stay down `down_for` s, start again."""
        self.postgres.stop()
        time.sleep(down_for)  # the outage itself: clients are refused connections meanwhile
        self.postgres.start()


REJECT_ALL = "host all all 0.0.0.0/0 reject\nhost all all ::/0 reject\n"


async def _connection_refused(postgres: EmbeddedPostgres) -> bool:
    try:
        connection = await asyncpg.connect(plain_dsn(postgres.url), timeout=5)
    except asyncpg.InvalidAuthorizationSpecificationError:
        return True  # "pg_hba.conf rejects connection"
    await connection.close()
    return False


async def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what}"
        await asyncio.sleep(0.2)


async def _refuse_connections(postgres: EmbeddedPostgres, for_seconds: float) -> None:
    hba = postgres.data_dir / "pg_hba.conf"
    original = hba.read_text()
    admin = await asyncpg.connect(plain_dsn(postgres.admin_url))  # opened before the door closes
    try:
        hba.write_text(REJECT_ALL + original)
        await admin.execute("SELECT pg_reload_conf()")
        await _wait(lambda: _connection_refused(postgres), 30, "pg_hba rejecting connections")
        cut = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        log.info("faults.postgres_refusing", sessions_cut=cut, seconds=for_seconds)
        await asyncio.sleep(for_seconds)  # the outage itself
    finally:
        hba.write_text(original)
        await admin.execute("SELECT pg_reload_conf()")
        await admin.close()
    await _wait(lambda: _accepting(postgres), 30, "pg_hba accepting connections again")


async def _accepting(postgres: EmbeddedPostgres) -> bool:
    return not await _connection_refused(postgres)


@contextmanager
def fault_stack(root: Path) -> Iterator[FaultStack]:
    root.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(root / "postgres", port=free_port())
    broker = KafkaBroker(root / "kafka", port=free_port(), heap="384m")
    with postgres, broker:
        yield FaultStack(broker, postgres, root)


SERVICE_ENV = {
    "CRM_PROJECTOR_BATCH_SIZE": "200",
    "CRM_PROJECTOR_SESSION_TIMEOUT": "6",
    "CRM_ALERTS_EVALUATE_SECONDS": "0.2",
    "CRM_ALERTS_SESSION_TIMEOUT_SECONDS": "6",
    "CRM_GATEWAY_PUBLISH_TIMEOUT": "3",
    "CRM_GATEWAY_RETRY_AFTER": "1",
    "CRM_TOKEN_CACHE_SECONDS": "30",
}


@dataclass
class Deployment:
    """The services of one fault test, each a `crm <service> run` child process."""

    settings: Settings
    logs: Path
    gateway_url: str
    env: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def add(self, name: str, args: list[str]) -> ServiceProcess:
        environment = service_environment(self.settings, **{**SERVICE_ENV, **self.env})
        self.services[name] = ServiceProcess(name, args, environment, self.logs / f"{name}.log").start()
        return self.services[name]

    def kill_and_restart(self, name: str) -> None:
        """SIGKILL (a crash: no shutdown code runs), then start the same service again."""
        service = self.services[name]
        service.kill()
        service.start()
        if name == "gateway":
            self.wait_gateway_ready()

    def wait_gateway_ready(self, timeout: float = 90) -> None:
        def ready() -> bool:
            try:
                return httpx.get(f"{self.gateway_url}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(ready, timeout, interval=0.3), log_tail(self.services["gateway"].log_path)

    def applied(self) -> int:
        return len(asyncio.run(_applied_ids(self.settings)))

    def wait_until_projecting(self, timeout: float = 90) -> None:
        """Until the projector group applies events right now (so a kill lands mid-work, not mid-boot)."""
        before = self.applied()
        assert wait_until(lambda: self.applied() > before, timeout, interval=0.2), "the projectors apply nothing"

    def wait_until_alerting(self, timeout: float = 90) -> None:
        """Until the alerts service publishes alerts right now."""
        before = alerts_published(self.settings)
        assert wait_until(lambda: alerts_published(self.settings) > before, timeout, interval=0.2), (
            "the alerts service publishes nothing"
        )

    def dead_services(self) -> list[str]:
        return [name for name, service in self.services.items() if not service.alive()]

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()


class Servers(Protocol):
    """What a deployment runs on: the fault stack, or the three-broker cluster (tests/support/kafka_cluster.py)."""

    @property
    def base(self) -> Settings: ...


@contextmanager
def deployment(
    stack: Servers, root: Path, *, projectors: int = 1, alerts: bool = False, query: bool = False, **env: str
) -> Iterator[tuple[Deployment, dict[str, str]]]:
    """Own topics and database on the stack, a token per partner, then gateway, projector(s), alerts
    and the query API. Once all are stopped: no token in any of their logs."""
    settings = asyncio.run(isolated_settings(stack.base)).model_copy(
        update={"state_dir": root / "state", "gateway_port": free_port(), "query_port": free_port()}
    )
    tokens = {partner: asyncio.run(create_token(settings, partner))[1] for partner in PARTNERS}
    running = Deployment(settings, root / "logs", f"http://127.0.0.1:{settings.gateway_port}", env)
    try:
        running.add("gateway", ["gateway", "run"])
        for n in range(projectors):
            running.add("projector" if n == 0 else f"projector-{n + 1}", ["projector", "run"])
        if alerts:
            running.add("alerts", ["alerts", "run"])
        if query:
            running.add("query", ["query", "run"])
        running.wait_gateway_ready()
        yield running, tokens
    finally:
        running.stop()
    logs = sorted(running.logs.glob("*.log"))
    secrets = [secret for token in tokens.values() for secret in token_secrets(token)]
    assert secrets_in_files(logs, secrets) == [], "a token was written to a service log"


@dataclass
class LoadFigures:
    requests: int = 0
    events_sent: int = 0
    accepted: int = 0
    refused: int = 0
    retried: int = 0
    duplicate_sends: int = 0
    gave_up: int = 0
    not_retryable_5xx: int = 0  # a 5xx other than 502/503/504: the partner client would not retry it

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class SteadyLoad:
    """Send `events` through the gateway at a steady rate, partner by partner, with each partner's token.

    Each request is retried with the *same bytes* after a 5xx or a connection error, as the
    partner client does, until it gets an answer below 500 or `give_up_after` seconds pass. Every
    tenth request is a deliberately invalid one (must be refused with a 422 and is never retried)
    and every seventh is a re-send of an earlier acknowledged request (must change nothing).
    """

    def __init__(
        self,
        url: str,
        tokens: dict[str, str],
        events: Sequence[DomainEvent],
        *,
        per_request: int = 5,
        requests_per_second: float = 15.0,
        give_up_after: float = 120.0,
    ) -> None:
        self._url = url
        self._tokens = tokens
        self._bodies = _requests_of(events, per_request)
        self._interval = 1.0 / requests_per_second
        self._give_up_after = give_up_after
        self.acknowledged: dict[uuid.UUID, DomainEvent] = {}
        self.figures = LoadFigures()
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)
        self._progress = threading.Condition()

    def __enter__(self) -> "SteadyLoad":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._give_up_after + 30)

    def wait_for_acknowledged(self, count: int, timeout: float = 120) -> None:
        """Block until `count` events got a 202 (a point in the load to inject the next fault at)."""
        with self._progress:
            self._progress.wait_for(lambda: len(self.acknowledged) >= count or not self._thread.is_alive(), timeout)

    def finish(self, timeout: float = 600) -> None:
        """Wait for the whole load to be sent (bounded), then report what the load itself saw go wrong."""
        self._thread.join(timeout=timeout)
        assert not self._thread.is_alive(), "the load did not finish in time"
        assert not self.problems, self.problems
        assert self.figures.gave_up == 0, f"{self.figures.gave_up} requests never got an answer below 500"
        assert self.figures.not_retryable_5xx == 0, (
            f"{self.figures.not_retryable_5xx} answers were a 5xx the partner client gives up on (not 502/503/504)"
        )

    @property
    def total_events(self) -> int:
        return sum(len(events) for _, events in self._bodies)

    def _run(self) -> None:
        acked_bodies: list[tuple[str, bytes]] = []
        with httpx.Client(base_url=self._url, timeout=5.0) as client:
            next_at = time.monotonic()
            for n, (partner, events) in enumerate(self._bodies):
                if self._stop.is_set():
                    return
                body = b"[" + b",".join(encode_event(e) for e in events) + b"]"
                next_at = _pace(next_at, self._interval)
                status = self._send(client, partner, body, len(events))
                if status == 202:
                    acked_bodies.append((partner, body))
                    with self._progress:
                        self.acknowledged.update((e.event_id, e) for e in events)
                        self.figures.accepted += len(events)
                        self._progress.notify_all()
                elif status is not None:
                    self.problems.append(f"a valid request got {status}")
                if n % 10 == 9:
                    self._send_invalid(client, partner)
                if n % 7 == 6 and acked_bodies:
                    partner_again, again = acked_bodies[len(acked_bodies) // 2]
                    self.figures.duplicate_sends += 1
                    if self._send(client, partner_again, again, 0) != 202:
                        self.problems.append("a re-sent acknowledged request was not accepted again")

    def _send_invalid(self, client: httpx.Client, partner: str) -> None:
        bad = {
            "event_id": str(uuid.uuid4()),
            "event_type": "MeetingHeld",
            "schema_version": 1,
            "occurred_at": "2020-10-05T09:00:00Z",
            "partner_id": partner,
            "sme_id": "sme-invalid",
            "payload": {"market": "CHL", "counterpart": "Corfo", "format": "digital"},
        }
        status = self._send(client, partner, json.dumps(bad).encode(), 0)
        if status == 422:
            self.figures.refused += 1
        else:
            self.problems.append(f"an invalid request got {status}, not 422")

    def _send(self, client: httpx.Client, partner: str, body: bytes, events: int) -> int | None:
        """POST until an answer below 500; None when it never came within `give_up_after`."""
        headers = {"Authorization": f"Bearer {self._tokens[partner]}", "Content-Type": "application/json"}
        deadline = time.monotonic() + self._give_up_after
        delay = 0.2
        self.figures.requests += 1
        self.figures.events_sent += events
        while True:
            try:
                response = client.post("/v1/events", content=body, headers=headers)
                if response.status_code < 500:
                    return response.status_code
                if response.status_code not in RETRYABLE:
                    self.figures.not_retryable_5xx += 1
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self._stop.is_set():
                self.figures.gave_up += 1
                return None
            self.figures.retried += 1
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _pace(next_at: float, interval: float) -> float:
    """Sleep until the next slot; after a long stall (a fault), resume the rate rather than burst."""
    now = time.monotonic()
    if next_at > now:
        time.sleep(next_at - now)
        return next_at + interval
    return now + interval


def _requests_of(events: Sequence[DomainEvent], per_request: int) -> list[tuple[str, list[DomainEvent]]]:
    by_partner: dict[str, list[DomainEvent]] = {}
    for event in events:
        by_partner.setdefault(event.partner_id, []).append(event)
    chunks = [
        (partner, mine[start : start + per_request])
        for partner, mine in by_partner.items()
        for start in range(0, len(mine), per_request)
    ]
    # interleave partners, as several partner systems sending at once would
    chunks.sort(key=lambda chunk: (chunk[1][0].event_id.int % 9973, chunk[0]))
    return chunks


async def _applied_ids(settings: Settings) -> list[uuid.UUID]:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(select(applied_events.c.event_id))).scalars())
    finally:
        await engine.dispose()


def settle_and_verify(running: Deployment, load: SteadyLoad, *, settle_timeout: float = 180) -> dict[str, Any]:
    """Once the load is over: the read models hold every acknowledged event exactly once, nothing
    else, and equal the reference fold of exactly those events; every service is still running."""
    expected = set(load.acknowledged)

    def settled() -> bool:
        return len(asyncio.run(_applied_ids(running.settings))) >= len(expected)

    wait_until(settled, settle_timeout, interval=0.5)  # a deadline for failing, not a speed check
    applied = asyncio.run(_applied_ids(running.settings))
    assert len(applied) == len(set(applied)), "an event is recorded twice"
    missing, extra = expected - set(applied), set(applied) - expected
    assert not missing, f"{len(missing)} acknowledged events are not in the read models"
    assert not extra, f"{len(extra)} events in the read models were never acknowledged"
    actual = asyncio.run(read_models(running.settings))
    assert actual == reference_models(list(load.acknowledged.values())), "read models differ from the reference"
    dead = running.dead_services()
    assert not dead, {name: log_tail(running.services[name].log_path) for name in dead}
    return {**load.figures.as_dict(), "applied": len(applied), "lost": len(missing), "duplicated": 0}


async def _read_alerts(settings: Settings, *, only_count: bool = False, timeout: float = 60) -> list[AlertEvent] | int:
    """Every alert on the topic up to its current end offsets (or just how many there are)."""
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.alerts_topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        if only_count:
            return sum(ends.values())
        seen: list[AlertEvent] = []
        deadline = time.monotonic() + timeout
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            assert time.monotonic() < deadline, "could not read the alerts topic to its end"
            batch = await consumer.getmany(timeout_ms=300)
            seen.extend(decode_alert(r.value) for records in batch.values() for r in records)
        return seen
    finally:
        await consumer.stop()


def alerts_on_topic(settings: Settings) -> list[AlertEvent]:
    alerts = asyncio.run(_read_alerts(settings))
    assert isinstance(alerts, list)
    return alerts


def alerts_published(settings: Settings) -> int:
    count = asyncio.run(_read_alerts(settings, only_count=True))
    assert isinstance(count, int)
    return count


async def _alert_rows(settings: Settings) -> tuple[list[uuid.UUID], list[tuple[str, str]]]:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            applied = list((await connection.execute(select(applied_alert_events.c.event_id))).scalars())
            unresolved = (
                await connection.execute(
                    select(alerts.c.partner_id, alerts.c.pilot_id).where(alerts.c.resolved_at.is_(None))
                )
            ).all()
            return applied, [(row[0], row[1]) for row in unresolved]
    finally:
        await engine.dispose()


def alert_read_model(settings: Settings) -> tuple[list[uuid.UUID], list[tuple[str, str]]]:
    """The alert events the alerts read model applied, and its unresolved (partner, pilot) stalls."""
    return asyncio.run(_alert_rows(settings))


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Append this fault's figures to the run's report (JSON lines), for docs/reliability.md."""
    path = Path(os.environ.get(REPORT_ENV, ".crm/faults/last-run.jsonl"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps({"fault": name, **figures}) + "\n")


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    assert wait_until(predicate, timeout, interval=0.3), f"not within {timeout:.0f}s: {what}"


def wait_alerts_caught_up(settings: Settings, timeout: float = 120) -> None:
    """Until the alerts service's consumer group has committed every event of the events topic."""
    from crm.alerts.bootstrap import consumer_group
    from crm.query.freshness import KafkaConsumerLag

    async def lag() -> int | None:
        group = consumer_group(settings, "events")  # the alerts' plain consumer of crm.events
        probe = KafkaConsumerLag(settings.kafka, settings.events_topic, group)
        try:
            return await probe.lag()
        finally:
            await probe.close()

    wait_for(lambda: asyncio.run(lag()) == 0, timeout, "the alerts service consuming every event")


def expected_stalls(
    acknowledged: Sequence[DomainEvent], now: datetime, threshold_days: int = 30
) -> dict[uuid.UUID, tuple[str, str]]:
    """From the reference fold alone: the PilotStalled id of each pilot in discussion idle for longer
    than the threshold at `now` (docs/contract.md "Stalled pilot"), with its (partner, pilot)."""
    from crm.alerts.rules import alert_id

    cutoff = now - timedelta(days=threshold_days)
    return {
        alert_id(partner, pilot, row["last_activity_at"], "stalled"): (partner, pilot)
        for (partner, _, pilot), row in reference_models(list(acknowledged))["pilots"].items()
        if row["status"] == "open" and row["last_activity_at"] < cutoff
    }


def verify_alerts_at(running: Deployment, load: SteadyLoad, clock_file: Path, now: datetime) -> dict[str, int]:
    """The alerts service ran the whole load on a controlled clock that was not set (so it judged
    nothing); once it has consumed every event, set the clock to `now`: the alerts on `crm.alerts`
    are then exactly the stalls the reference fold gives at `now` (none lost, none extra), and the
    alerts read model applied each once and holds one unresolved alert per stalled pilot."""
    wait_alerts_caught_up(running.settings)
    expected = expected_stalls(list(load.acknowledged.values()), now)
    assert expected, "the clock should stall some pilots"
    tmp = clock_file.with_suffix(".tmp")
    tmp.write_text(now.isoformat())
    tmp.replace(clock_file)

    def published() -> set[uuid.UUID]:
        return {a.event_id for a in alerts_on_topic(running.settings)}

    wait_until(lambda: published() >= set(expected), 120, interval=1.0)
    seen = alerts_on_topic(running.settings)
    distinct = {a.event_id for a in seen}
    assert set(expected) - distinct == set(), f"{len(set(expected) - distinct)} stalls were never alerted"
    assert distinct - set(expected) == set(), f"{len(distinct - set(expected))} alerts the rules do not give"
    assert {a.event_type for a in seen} == {"PilotStalled"}
    wait_until(lambda: set(alert_read_model(running.settings)[0]) == distinct, 120, interval=0.5)
    applied, unresolved = alert_read_model(running.settings)
    assert len(applied) == len(set(applied)) and set(applied) == distinct, "alerts read model != topic"
    assert sorted(unresolved) == sorted(expected.values()), "one unresolved alert per stalled pilot"
    return {"alerts": len(distinct), "alerts_reemitted_same_id": len(seen) - len(distinct)}
