"""The launchers start real servers, report readiness, stop cleanly and leave no orphans."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from crm.errors import InfrastructureError
from crm.local.kafka_broker import KafkaBroker, require_java_and_maven
from crm.local.postgres_server import EmbeddedPostgres
from crm.local.processes import pid_alive, port_accepts, wait_until
from tests.support.isolation import plain_dsn

pytestmark = pytest.mark.infra


async def round_trip(bootstrap: str) -> bytes:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait("launcher-check", b"hello")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer("launcher-check", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        return bytes(record.value)
    finally:
        await consumer.stop()


def test_kafka_broker_starts_accepts_clients_and_stops_cleanly(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path / "kafka").start()
    pid = broker.pid
    assert pid is not None
    try:
        assert asyncio.run(round_trip(broker.bootstrap)) == b"hello"
    finally:
        broker.stop()
    assert not pid_alive(pid)
    assert not port_accepts("127.0.0.1", broker.port)


def test_kafka_broker_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    with KafkaBroker(tmp_path / "kafka") as broker:
        asyncio.run(round_trip(broker.bootstrap))
    with KafkaBroker(tmp_path / "kafka") as broker:
        assert asyncio.run(round_trip(broker.bootstrap)) == b"hello"  # the first record, read again


def test_embedded_postgres_starts_serves_and_stops_cleanly(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "postgres").start()
    pid = server.pid
    assert pid is not None
    try:

        async def query() -> int:
            connection = await asyncpg.connect(plain_dsn(server.url))
            try:
                return int(await connection.fetchval("SELECT 41 + 1"))
            finally:
                await connection.close()

        assert asyncio.run(query()) == 42
    finally:
        server.stop()
    assert not pid_alive(pid)
    assert not port_accepts("127.0.0.1", server.port)


def test_a_killed_parent_leaves_no_orphan_servers(tmp_path: Path) -> None:
    """SIGKILL the process that started Kafka and PostgreSQL: both servers go away by themselves."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from crm.local.kafka_broker import KafkaBroker
        from crm.local.postgres_server import EmbeddedPostgres
        broker = KafkaBroker(Path({str(tmp_path / "kafka")!r})).start()
        postgres = EmbeddedPostgres(Path({str(tmp_path / "postgres")!r})).start()
        print("PIDS", broker.pid, postgres.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        line = next(line for line in parent.stdout if line.startswith("PIDS"))
        kafka_pid, postgres_pid = (int(p) for p in line.split()[1:])
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert wait_until(lambda: not pid_alive(kafka_pid) and not pid_alive(postgres_pid), timeout=60)


def test_a_missing_java_is_reported_with_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no java, no mvn
    with pytest.raises(InfrastructureError, match=r"Java 17 or newer is required.*apt-get install openjdk-17"):
        require_java_and_maven()


def test_a_broker_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path / "kafka", heap="1k", start_timeout=30)  # the JVM refuses this heap
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match="did not become ready") as failure:
        broker.start()
    assert str(tmp_path / "kafka") in str(failure.value)
    assert time.monotonic() - started < 30, "a dead broker is reported at once, not after the timeout"
    assert os.path.exists(tmp_path / "kafka" / "java.out")
