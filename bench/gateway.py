"""Gateway: one `crm gateway run` worker (uvicorn) on the run's Kafka and PostgreSQL.

- throughput of single-event and of 100-event requests (closed loop, keep-alive connections),
  in events/s beside the raw aiokafka produce ceiling (acks=all) measured on the same broker;
- p50/p99 latency at a fixed request rate (open loop: latency counts from the moment a request was
  *due*, so a stalled server cannot hide its queueing).

Every request is a real 202: validated, authorised and acknowledged by Kafka (acks=all). The load
generator shares the cores with the gateway, Kafka and PostgreSQL, so the figures are a floor.
"""

import asyncio
import time
import uuid
from typing import Any

from bench.harness import BenchContext, benchmark
from bench.http_load import ConnectionPool, cpu_seconds, open_loop, post_events, wait_ready
from bench.replay_source import replay_topic
from bench.report import Reference, Row, Target
from bench.stats import latency_summary
from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.local.processes import free_port
from crm.local.services import ServiceProcess, service_environment
from crm.messaging.topic_admin import contract_topics, ensure_topics
from crm.settings import Settings

# The gateway's own targets (docs/ingestion.md).
TARGET_SINGLE_REQUESTS = 3_000
TARGET_BATCH_EVENTS = 30_000
TARGET_P99_MS = 25.0

PARTNER = "bench-partner"
SMES = 1000  # distinct SMEs (Kafka keys) the events are spread over
MAX_REQUESTS_PER_PHASE = 200_000


def meeting(sme: int, partner: str = PARTNER) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "MeetingHeld",
        "schema_version": 1,
        "occurred_at": "2021-03-04T10:00:00Z",
        "partner_id": partner,
        "sme_id": f"sme-{sme % SMES}",
        "payload": {"market": "CN", "region": "Guangzhou", "counterpart": "Huangpu District", "format": "digital"},
    }


def requests(port: int, token: str, events_per_request: int, count: int) -> list[bytes]:
    """Ready-to-send requests, each with fresh event ids."""
    return [
        post_events(
            port,
            token,
            [meeting(i * events_per_request + j) for j in range(events_per_request)],
            single=events_per_request == 1,
        )
        for i in range(count)
    ]


async def partner_token(database_url: str, partner: str) -> str:
    store = TokenStore(create_engine(database_url, pool_size=1))
    try:
        _, token = await store.create("partner", partner, "bench")
        return token
    finally:
        await store.close()


async def closed_loop(port: int, batch: list[bytes], connections: int, seconds: float) -> dict[str, Any]:
    """As many requests as `connections` keep-alive connections can push in `seconds`."""
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    counter = iter(range(MAX_REQUESTS_PER_PHASE))

    async def worker(pool: ConnectionPool) -> None:
        for i in counter:
            if time.perf_counter() > deadline:
                return
            status = await pool.exchange(batch[i % len(batch)])
            statuses[status] = statuses.get(status, 0) + 1

    async with ConnectionPool(port, connections) as pool:
        started = time.perf_counter()
        await asyncio.gather(*(worker(pool) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    ok = statuses.get(202, 0)
    return {"requests_per_s": ok / elapsed, "requests": ok, "statuses": statuses}


async def fixed_rate(port: int, batch: list[bytes], rate: float, seconds: float, connections: int) -> dict[str, Any]:
    """Requests due every 1/rate s; latency counted from when each was due."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(pool: ConnectionPool, i: int, due: float) -> None:
        status = await pool.exchange(batch[i % len(batch)])
        statuses[status] = statuses.get(status, 0) + 1
        if status == 202:
            latencies.append(time.perf_counter() - due)

    async with ConnectionPool(port, connections) as pool:
        total = min(int(rate * seconds), MAX_REQUESTS_PER_PHASE)
        await open_loop(total, rate, lambda i, due: one(pool, i, due))
    return latency_summary(latencies) | {"rate": rate, "statuses": statuses}


@benchmark("gateway")
async def gateway(context: BenchContext) -> list[Row]:
    produce = (await replay_topic(context)).produce
    seconds, connections, rate = context.scale(2.0, 5.0), 32, 500.0
    database_url = await context.fresh_database()
    settings: Settings = context.isolated("gateway").model_copy(update={"database_url": database_url})
    assert settings.kafka_bootstrap
    await ensure_topics(settings.kafka, contract_topics(settings))
    token = await partner_token(database_url, PARTNER)
    port = free_port()
    single = requests(port, token, 1, 5000)
    hundred = requests(port, token, 100, 200)
    env = service_environment(settings, CRM_GATEWAY_PORT=str(port), CRM_LOG_LEVEL="warning")
    service = ServiceProcess("gateway", ["gateway", "run"], env, settings.state_dir / "logs" / "bench-gateway.log")
    try:
        service.start()
        await wait_ready(port, "/ready", service.alive)
        await closed_loop(port, single[:500], 8, 1.0)  # warm-up: connections, caches, the broker's JIT
        cpu = cpu_seconds(service.pid)
        one = await closed_loop(port, single, connections, seconds)
        cpu_one, cpu = cpu_seconds(service.pid) - cpu, cpu_seconds(service.pid)
        many = await closed_loop(port, hundred, max(4, connections // 4), seconds)
        cpu_many = cpu_seconds(service.pid) - cpu
        latency = await fixed_rate(port, single, rate, seconds, connections)
    finally:
        context.memory.observe("gateway", service.pid, "gateway benchmark")
        service.stop()
    ceiling = Reference("raw produce acks=all", produce.rate)
    us_one = cpu_one / max(one["requests"], 1) * 1e6
    us_many = cpu_many / max(many["requests"], 1) * 1e6
    context.details["gateway"] = {
        "seconds_per_phase": seconds,
        "connections": connections,
        "single": one | {"cpu_us_per_request": round(us_one)},
        "batch100": many | {"cpu_us_per_request": round(us_many)},
        "fixed_rate": latency,
    }
    return [
        Row(
            "gateway",
            "1-event requests",
            one["requests_per_s"],
            "events/s",
            ceiling=ceiling,
            targets=(Target(TARGET_SINGLE_REQUESTS),),  # one event per request: events/s = requests/s
            note=f"{connections} conns; gateway CPU {us_one:,.0f} µs/request; non-202: {_failed(one)}",
        ),
        Row(
            "gateway",
            "100-event requests",
            many["requests_per_s"] * 100,
            "events/s",
            ceiling=ceiling,
            targets=(Target(TARGET_BATCH_EVENTS),),
            note=f"{many['requests_per_s']:,.0f} req/s; gateway CPU {us_many:,.0f} µs/request; "
            f"non-202: {_failed(many)}",
        ),
        Row(
            "gateway",
            f"p99 latency at {rate:,.0f} req/s",
            latency["p99_ms"],
            "ms",
            targets=(Target(TARGET_P99_MS, at_least=False),),
            note=f"p50 {latency['p50_ms']:.1f} ms, max {latency['max_ms']:.1f} ms, 1-event requests, open loop",
        ),
    ]


def _failed(phase: dict[str, Any]) -> int:
    return sum(n for status, n in phase["statuses"].items() if status != 202)
