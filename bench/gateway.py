"""Gateway benchmark: one `crm gateway run` worker (uvicorn) on the real Kafka and PostgreSQL.

Figures: throughput of single-event requests and of 100-event requests (closed loop, keep-alive
connections), then p50/p99 latency at a fixed request rate (open loop: latency is measured from
the moment a request was *due*, so a stalled server cannot hide its queueing). Every request is a
real 202: validated, authorised and acknowledged by Kafka (acks=all).

Load stays on 127.0.0.1 and is bounded in time and count. The load generator shares the machine
(and its cores) with the gateway, Kafka and PostgreSQL, so figures are a floor, not a ceiling.

    python bench/gateway.py [--seconds 5] [--connections 32] [--rate 500]
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.db.migrate import upgrade_database
from crm.infra.processes import free_port
from crm.infra.services import ServiceProcess, service_environment
from crm.infra.stack import running_infrastructure
from crm.messaging.topic_admin import contract_topics, ensure_topics
from crm.settings import Settings

PARTNER = "bench-partner"
SMES = 1000  # distinct SMEs (Kafka keys) the events are spread over; a programme has far fewer
MAX_REQUESTS_PER_PHASE = 200_000


def _event(sme: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "MeetingHeld",
        "schema_version": 1,
        "occurred_at": "2021-03-04T10:00:00Z",
        "partner_id": PARTNER,
        "sme_id": f"sme-{sme % SMES}",
        "payload": {"market": "CN", "region": "Guangzhou", "counterpart": "Huangpu District", "format": "digital"},
    }


def _requests(port: int, token: str, events_per_request: int, count: int) -> list[bytes]:
    """Ready-to-send HTTP/1.1 requests, each with fresh event ids."""
    out = []
    for i in range(count):
        events = [_event(i * events_per_request + j) for j in range(events_per_request)]
        body = json.dumps(events[0] if events_per_request == 1 else events, separators=(",", ":")).encode()
        head = (
            f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def closed_loop(port: int, requests: list[bytes], connections: int, seconds: float) -> dict[str, Any]:
    """As many requests as `connections` keep-alive connections can push in `seconds`."""
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    counter = iter(range(MAX_REQUESTS_PER_PHASE))

    async def worker() -> None:
        connection = await Connection.open(port)
        try:
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                status = await connection.exchange(requests[i % len(requests)])
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ok = statuses.get(202, 0)
    failures = {code: n for code, n in statuses.items() if code != 202}
    return {"requests_per_s": ok / elapsed, "requests": ok, "failed": sum(failures.values()), "statuses": failures}


async def fixed_rate(port: int, requests: list[bytes], rate: float, seconds: float, connections: int) -> dict[str, Any]:
    """Requests due every 1/rate s; latency counted from when each was due."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    failed = 0
    statuses: dict[int, int] = {}

    async def one(i: int, due: float) -> None:
        nonlocal failed
        connection = await pool.get()
        try:
            status = await connection.exchange(requests[i % len(requests)])
        finally:
            pool.put_nowait(connection)
        if status == 202:
            latencies.append(time.perf_counter() - due)
        else:
            failed += 1
            statuses[status] = statuses.get(status, 0) + 1

    total = min(int(rate * seconds), MAX_REQUESTS_PER_PHASE)
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "rate": rate,
        "requests": len(latencies),
        "failed": failed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "max_ms": max(latencies) * 1000,
        "statuses": statuses,
    }


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    if pid is None or not Path(f"/proc/{pid}/stat").exists():
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _gateway(settings: Settings, port: int, log: Path) -> Iterator[ServiceProcess]:
    env = service_environment(settings, CRM_GATEWAY_PORT=str(port), CRM_LOG_LEVEL="warning")
    with ServiceProcess("gateway", ["gateway", "run"], env, log) as service:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and service.alive():
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200:
                    yield service
                    return
            time.sleep(0.3)
        raise RuntimeError(f"the gateway did not become ready; see {log}")


async def bench_gateway(
    *, seconds: float = 5.0, connections: int = 32, rate: float = 500.0, settings: Settings | None = None
) -> dict[str, Any]:
    """Run the three phases against a fresh gateway; returns the measured figures.

    Starts its own Kafka and PostgreSQL under a temporary directory unless the settings (or
    CRM_KAFKA_BOOTSTRAP / CRM_DATABASE_URL) point at running ones. Call from the main thread.
    """
    base = settings or Settings()
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        base = base.model_copy(update={"state_dir": Path(tmp)})
        with running_infrastructure(base) as started:
            suffix = uuid.uuid4().hex[:8]
            live = started.model_copy(update={"events_topic": f"bench-{suffix}.events", "topic_partitions": 4})
            bootstrap, database_url = live.kafka_bootstrap, live.database_url
            assert bootstrap and database_url
            await ensure_topics(bootstrap, contract_topics(live)[:1])
            await asyncio.to_thread(upgrade_database, database_url)
            store = TokenStore(create_engine(database_url, pool_size=1))
            try:
                _, token = await store.create("partner", PARTNER, "bench")
            finally:
                await store.close()
            port = free_port()
            single = _requests(port, token, 1, 5000)
            batch = _requests(port, token, 100, 200)
            with _gateway(live, port, Path(tmp) / "gateway.log") as gateway:
                await closed_loop(port, single[:500], 8, 1.0)  # warm-up: connections, caches, JIT of the broker
                cpu = _cpu_seconds(gateway.pid)
                one = await closed_loop(port, single, connections, seconds)
                cpu_one, cpu = _cpu_seconds(gateway.pid) - cpu, _cpu_seconds(gateway.pid)
                hundred = await closed_loop(port, batch, max(4, connections // 4), seconds)
                cpu_hundred = _cpu_seconds(gateway.pid) - cpu
                latency = await fixed_rate(port, single, rate, seconds, connections)
    return {
        "gateway_single_requests_per_s": round(one["requests_per_s"]),
        "gateway_batch100_requests_per_s": round(hundred["requests_per_s"]),
        "gateway_batch100_events_per_s": round(hundred["requests_per_s"] * 100),
        f"gateway_p50_ms_at_{rate:g}_rps": round(latency["p50_ms"], 2),
        f"gateway_p99_ms_at_{rate:g}_rps": round(latency["p99_ms"], 2),
        f"gateway_max_ms_at_{rate:g}_rps": round(latency["max_ms"], 2),
        # CPU the gateway process spent per request: what one worker could do with a core to itself.
        "gateway_cpu_us_per_single_request": round(cpu_one / max(one["requests"], 1) * 1e6),
        "gateway_cpu_us_per_100_event_request": round(cpu_hundred / max(hundred["requests"], 1) * 1e6),
        "failed_requests": int(one["failed"] + hundred["failed"] + latency["failed"]),
        "failed_by_status": {**one["statuses"], **hundred["statuses"], **latency["statuses"]},
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase (max 60)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (max 256)")
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s of the latency phase (max 5000)")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    figures = asyncio.run(
        bench_gateway(
            seconds=min(args.seconds, 60.0), connections=min(args.connections, 256), rate=min(args.rate, 5000.0)
        )
    )
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
