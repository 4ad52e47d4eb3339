"""The projector as it runs: separate processes, real Kafka and PostgreSQL, compared with the
reference fold. Crash safety, scale-out across a rebalance, dead letters, rebuild, status."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from sqlalchemy import text

from crm.db.engine import create_engine
from crm.local.services import ServiceProcess, service_environment
from crm.messaging.connection import client_options
from crm.messaging.topic_admin import KEEP_FOREVER
from crm.projector.rebuild import rebuild_projections
from crm.projector.status import projector_status
from crm.settings import Settings
from crm.status_metrics import prometheus_text
from tests.support.events import envelope
from tests.support.histories import history
from tests.support.pipeline import (
    applied_count,
    arrival_order,
    projector,
    publish,
    read_models,
    wait_until_applied,
)
from tests.support.reference import reference_models

pytestmark = pytest.mark.infra


ASSIGNED = "batch_consumer.partitions_assigned"  # logged by a worker each time the group gives it partitions


async def wait_for_log(path: Path, line: str, count: int, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await asyncio.to_thread(_occurrences, path, line) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{path.name}: fewer than {count} x {line!r}"
        await asyncio.sleep(0.1)


def _occurrences(path: Path, line: str) -> int:
    return path.read_text(errors="replace").count(line) if path.exists() else 0


def crm(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crm.cli", *args],
        env=service_environment(settings),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def test_a_projector_killed_mid_batch_and_restarted_ends_like_an_uninterrupted_run(
    isolated: Settings, tmp_path: Path
) -> None:
    events = history(seed=11, smes=400)
    await publish(isolated, arrival_order(events))
    service = projector(isolated, tmp_path / "projector.log", CRM_PROJECTOR_BATCH_SIZE="50").start()
    try:
        killed_at = await wait_until_applied(isolated, 1, at_least=True)
        service.kill()  # SIGKILL, wherever it is
        assert 0 < killed_at < len(events), "the kill should land while events remain"
        service.start()
        assert await wait_until_applied(isolated, len(events)) == len(events)
    finally:
        service.stop()
    assert await read_models(isolated) == reference_models(events)
    status = await projector_status(isolated)  # the restarted worker committed its offsets
    assert status.applied_events == len(events)
    assert status.newest_occurred_at == max(e.occurred_at for e in events)
    assert status.lag == 0
    assert 'crm_projector_consumer_lag{group="' in prometheus_text(status)


async def test_two_workers_in_one_group_give_the_same_read_models_across_rebalances(
    isolated: Settings, tmp_path: Path
) -> None:
    events = history(seed=12, smes=300)
    arrival = arrival_order(events, seed=1)
    third = len(arrival) // 3
    first = projector(isolated, tmp_path / "first.log", CRM_PROJECTOR_BATCH_SIZE="40").start()
    second = projector(isolated, tmp_path / "second.log", CRM_PROJECTOR_BATCH_SIZE="40")
    try:
        await publish(isolated, arrival[:third])
        second.start()  # rebalance: the partitions are shared out while events flow
        await publish(isolated, arrival[third : 2 * third])
        await wait_for_log(tmp_path / "second.log", ASSIGNED, 1)  # the joiner is in: both share the partitions
        first.stop()  # rebalance again: the second worker takes everything over
        await publish(isolated, arrival[2 * third :])
        assert await wait_until_applied(isolated, len(events)) == len(events)
    finally:
        first.stop()
        second.stop()
    assert await read_models(isolated) == reference_models(events)


async def test_dead_letters_are_listed_and_replayed_once(isolated: Settings, tmp_path: Path) -> None:
    bootstrap = isolated.kafka_bootstrap or ""
    bad = json.dumps(envelope("MeetingHeld", {"market": "XX", "counterpart": "c", "format": "digital"})).encode()
    # A valid event parked by an older, stricter projector: what a fixed contract would let through.
    fixed = json.dumps(envelope("SMESelected", sme_id="sme-fixed")).encode()
    with projector(isolated, tmp_path / "projector.log"):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(isolated.events_topic, b"{not json", key=b"tehnopol/a")
            await producer.send_and_wait(isolated.events_topic, bad, key=b"tehnopol/b")
            await asyncio.to_thread(_dlq_listing, isolated, 2)  # both parked by the projector
            await producer.send_and_wait(
                isolated.dlq_topic, fixed, key=b"tehnopol/sme-fixed", headers=[("dlq.reason", b"old contract")]
            )
        finally:
            await producer.stop()
        listing = await asyncio.to_thread(_dlq_listing, isolated, 3)
        assert [row["value"] for row in listing] == ["{not json", bad.decode(), fixed.decode()]
        assert "Invalid JSON" in listing[0]["headers"]["dlq.reason"]
        assert "payload.market" in listing[1]["headers"]["dlq.reason"]

        replay = crm(isolated, "dlq", "replay")
        assert replay.returncode == 0, replay.stderr
        assert "sent 3 dead letters back (1 valid now, 2 still invalid)" in replay.stdout
        assert await wait_until_applied(isolated, 1) == 1
        relisted = await asyncio.to_thread(_dlq_listing, isolated, 5)  # the two still invalid, parked again
        assert [row["value"] for row in relisted[3:]] == ["{not json", bad.decode()]
        again = crm(isolated, "dlq", "replay", "--dry-run")
        assert "would send 2 dead letters back" in again.stdout  # only the re-parked ones, not the first three
    models = await read_models(isolated)
    assert list(models["smes"]) == [("tehnopol", "sme-fixed")]


async def test_a_batch_it_cannot_handle_makes_the_projector_exit_1_and_nothing_past_it_is_committed(
    isolated: Settings, tmp_path: Path
) -> None:
    bootstrap = isolated.kafka_bootstrap or ""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    log_path = tmp_path / "projector.log"
    service = projector(isolated, log_path)
    try:
        # The dead-letter topic refuses anything over 1 KiB, so an undecodable message of 4 KiB
        # can be parked neither whole nor truncated (64 KiB): its batch cannot be handled.
        await _set_topic_config(admin, isolated.dlq_topic, {"max.message.bytes": "1024"})
        valid = json.dumps(envelope("SMESelected", sme_id="sme-before")).encode()
        await producer.send_and_wait(isolated.events_topic, valid, key=b"tehnopol/x", partition=0)
        service.start()
        assert await wait_until_applied(isolated, 1) == 1
        poison = await producer.send_and_wait(isolated.events_topic, b"{" * 4096, key=b"tehnopol/x", partition=0)

        code = await _exit_code(service)
        assert code == 1, f"exit code {code}: {log_path.read_text()[-2000:]}"
        log = log_path.read_text()
        assert "batch_consumer.handler_failed" in log and "projector.exiting" in log
        committed = await admin.list_consumer_group_offsets(
            isolated.projector_group, partitions=[TopicPartition(isolated.events_topic, 0)]
        )
        assert committed[TopicPartition(isolated.events_topic, 0)].offset == poison.offset  # not past it

        await _set_topic_config(admin, isolated.dlq_topic, {"max.message.bytes": str(4 * 1024 * 1024)})
        after = json.dumps(envelope("SMESelected", sme_id="sme-after")).encode()
        await producer.send_and_wait(isolated.events_topic, after, key=b"tehnopol/x", partition=0)
        service.start()  # the cause fixed: the poison is parked and what follows it applied
        assert await wait_until_applied(isolated, 2) == 2
        assert await asyncio.to_thread(_dlq_listing, isolated, 1)
    finally:
        await producer.stop()
        await admin.close()
        stopped = service.stop()
    assert stopped == 0, "SIGTERM is a clean stop"


async def _set_topic_config(admin: AIOKafkaAdminClient, topic: str, configs: dict[str, str]) -> None:
    # AlterConfigs replaces the topic's whole configuration: keep the retention the projector checks.
    configs = {**KEEP_FOREVER, **configs}
    await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])


async def _exit_code(service: ServiceProcess, timeout: float = 60) -> int | None:
    """The service's exit code once it has ended by itself (None if it still runs at the deadline)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        code = service.exit_code()
        if code is not None or asyncio.get_running_loop().time() > deadline:
            return code
        await asyncio.sleep(0.1)


def _dlq_listing(settings: Settings, count: int) -> list[dict[str, object]]:
    import time

    deadline = time.monotonic() + 60
    while True:
        listed = crm(settings, "dlq", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


async def test_rebuild_replaces_the_read_models_while_the_projector_keeps_serving(
    isolated: Settings, tmp_path: Path
) -> None:
    events = history(seed=13, smes=300, programmes=("prog-a", "prog-b", "default"))  # v2, programmes mixed
    before, after = events[: len(events) // 2], events[len(events) // 2 :]
    service = projector(isolated, tmp_path / "projector.log", CRM_PROJECTOR_BATCH_SIZE="100").start()
    engine = create_engine(isolated.database_url)
    try:
        await publish(isolated, arrival_order(before))
        assert await wait_until_applied(isolated, len(before)) == len(before)
        async with engine.begin() as connection:  # damage the read models: rebuild must repair them
            await connection.execute(text("DELETE FROM smes WHERE partner_id = 'sisp'"))
            await connection.execute(text("UPDATE pilots SET status = 'bogus'"))

        seen: list[int] = []
        rebuilding = asyncio.create_task(rebuild_projections(isolated, batch_size=50))
        publishing = asyncio.create_task(publish(isolated, arrival_order(after, seed=3)))
        while not rebuilding.done():  # a reader during the rebuild: never a half-built model
            seen.append(await applied_count(isolated))
            await asyncio.sleep(0.02)
        outcome = await rebuilding
        await publishing
        assert seen == sorted(seen), "the applied events a reader sees never go backwards"
        assert outcome.applied >= len(before)
        assert await wait_until_applied(isolated, len(events)) == len(events)
        assert await read_models(isolated) == reference_models(events)

        async with engine.begin() as connection:  # damage two partners, rebuild one of them
            await connection.execute(
                text("UPDATE smes SET name = 'bogus', programme_id = 'bogus' WHERE partner_id IN ('sisp', 'tehnopol')")
            )
        rebuilt = crm(isolated, "projections", "rebuild", "--partner", "tehnopol")
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "rebuilt tehnopol" in rebuilt.stdout
        models = await read_models(isolated)
        expected = reference_models(events)
        for key, row in models["smes"].items():
            for column in ("name", "programme_id"):
                wanted = "bogus" if key[0] == "sisp" else expected["smes"][key][column]
                assert row[column] == wanted, (key, column)
    finally:
        service.stop()
        await engine.dispose()


async def test_poison_and_reused_ids_written_straight_to_kafka_are_parked_and_the_rest_applied(
    isolated: Settings, tmp_path: Path
) -> None:
    # Findings 1-3 around the gateway: a NUL (unstorable), an id reused with other content, and
    # another partner's event under the same id, among good events on the same partition.
    first = envelope("SMESelected", sme_id="sme-first")
    nul = envelope("SMESelected", {"name": "nul\u0000byte"} | _profile(), sme_id="sme-nul")
    reused = envelope("SMESelected", sme_id="sme-reused", event_id=first["event_id"])
    foreign = envelope("SMESelected", partner_id="sisp", sme_id="sme-sisp", event_id=first["event_id"])
    last = envelope("SMESelected", sme_id="sme-last")
    producer = AIOKafkaProducer(**client_options(isolated.kafka), acks="all")
    await producer.start()
    try:
        for event in (first, nul, reused, first, foreign, last):
            await producer.send_and_wait(isolated.events_topic, json.dumps(event).encode(), key=b"k", partition=0)
    finally:
        await producer.stop()
    service = projector(isolated, tmp_path / "projector.log")
    service.start()
    try:
        assert await wait_until_applied(isolated, 3) == 3
        listing = await asyncio.to_thread(_dlq_listing, isolated, 2)
    finally:
        stopped = service.stop()
    assert stopped == 0, "nothing kept it from a clean stop"
    reasons = {row["headers"]["dlq.source.offset"]: row["headers"]["dlq.reason"] for row in listing}
    assert set(reasons) == {"1", "2"}
    assert "payload.name" in reasons["1"] and "NUL" in reasons["1"]
    assert "already applied with other content" in reasons["2"]
    expected = [("sisp", "sme-sisp"), ("tehnopol", "sme-first"), ("tehnopol", "sme-last")]
    assert sorted((await read_models(isolated))["smes"]) == expected
    rebuilt = await rebuild_projections(isolated, batch_size=10)
    assert (rebuilt.applied, rebuilt.invalid, rebuilt.refused) == (3, 1, 1)
    assert sorted((await read_models(isolated))["smes"]) == expected


def _profile() -> dict[str, object]:
    return {"country": "EE", "sector": "ict", "target_markets": ["FI"]}
