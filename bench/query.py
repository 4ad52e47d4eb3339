"""Query API latency: KPI and pilot-list endpoints on a large read model.

Seeds 100,000 SMEs and 200,000 pilots (10,000 and 20,000 in quick mode; plus markets,
agreements, alerts) with `generate_series` in a fresh database, then times sequential requests
through the real app (in-process ASGI, so no network in the figures): p50/p99 in ms. The ceiling
of each row is the same app's `/health` (no database): the floor of the HTTP stack itself.

    PYTHONPATH=. python -m bench query
"""

import asyncio
import time
import uuid
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.harness import BenchContext, benchmark
from bench.report import Reference, Row
from bench.stats import latency_summary
from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.db.migrate import upgrade_database
from crm.figures.kpis import programme_kpis
from crm.query.bootstrap import build_query_app
from crm.settings import Settings

PARTNERS = ("business-tampere", "sisp", "tehnopol", "turku-science-park", "vasteras-science-park")

_SEED = """
INSERT INTO smes (partner_id, sme_id, programme_id, name, country, sector, target_markets, stage, selected_at,
                  trained_at, met_at, piloting_at, agreement_at, matchmaking_at, withdrawn, withdrawn_at,
                  first_activity_at, last_activity_at)
SELECT (ARRAY{partners})[1 + i % 5], 'sme-' || i, 'default', 'SME ' || i, 'EE', 'sector ' || (i % 13),
       ARRAY['CN', 'VN'], (ARRAY['selected','trained','met','piloting','agreement'])[1 + i % 5],
       t, t + interval '30 days', CASE WHEN i % 5 >= 2 THEN t + interval '60 days' END,
       CASE WHEN i % 5 >= 3 THEN t + interval '90 days' END, CASE WHEN i % 5 = 4 THEN t + interval '200 days' END,
       CASE WHEN i % 3 = 0 THEN t + interval '60 days' END, i % 50 = 0,
       CASE WHEN i % 50 = 0 THEN t + interval '300 days' END,
       t, t + interval '300 days'
FROM (SELECT i, timestamptz '2019-04-01' + (i % 900) * interval '1 day' AS t
      FROM generate_series(1, {smes}) AS i) AS s;

INSERT INTO sme_markets (partner_id, sme_id, market, met_at, piloting_at, agreement_at, matchmaking_at)
SELECT partner_id, sme_id, (ARRAY['CN','VN','CL'])[1 + abs(hashtext(sme_id)) % 3], met_at, piloting_at,
       agreement_at, matchmaking_at
FROM smes WHERE met_at IS NOT NULL;

INSERT INTO pilots (partner_id, sme_id, pilot_id, status, market, region, counterpart, title, opened_at,
                    closed_at, outcome, last_activity_at, agreement_ids)
SELECT (ARRAY{partners})[1 + (i / 2) % 5], 'sme-' || (i / 2), 'p-' || i,
       CASE WHEN i % 10 < 4 THEN 'open' ELSE 'closed' END, (ARRAY['CN','VN','CL'])[1 + i % 3], 'Region',
       'Counterpart ' || (i % 97), 'Pilot ' || i, t,
       CASE WHEN i % 10 >= 4 THEN t + interval '100 days' END,
       CASE WHEN i % 10 >= 4 THEN (ARRAY['won','lost','withdrawn'])[1 + i % 3] END, t + interval '20 days', '{{}}'
FROM (SELECT i, timestamptz '2019-06-01' + (i % 900) * interval '1 day' AS t
      FROM generate_series(2, {pilots} + 1) AS i) AS s;

INSERT INTO agreements (partner_id, sme_id, agreement_id, agreement_type, market, counterpart, value_eur,
                        signed_at, version_key_at, version_key_event_id)
SELECT partner_id, sme_id, 'a-' || sme_id, (ARRAY['sales','distribution','licence'])[1 + abs(hashtext(sme_id)) % 3],
       'CN', 'Buyer', 1000, agreement_at, agreement_at, gen_random_uuid()
FROM smes WHERE agreement_at IS NOT NULL;

INSERT INTO alerts (alert_id, partner_id, pilot_id, sme_id, fired_at, last_activity_at, idle_days, threshold_days,
                    last_notified_at)
SELECT gen_random_uuid(), partner_id, pilot_id, sme_id, last_activity_at + interval '31 days', last_activity_at,
       31, 30, last_activity_at + interval '31 days'
FROM pilots WHERE status = 'open' AND abs(hashtext(pilot_id)) % 4 = 0;

INSERT INTO applied_events (event_id, partner_id, event_type, occurred_at)
SELECT gen_random_uuid(), 'sisp', 'PilotUpdated', timestamptz '2021-01-01' + i * interval '1 minute'
FROM generate_series(1, 10000) AS i;
"""


async def _seed(database_url: str, smes: int, pilots: int) -> None:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        partners = "[" + ",".join(f"'{p}'" for p in PARTNERS) + "]"
        await connection.execute(_SEED.format(partners=partners, smes=smes, pilots=pilots))
        await connection.execute("VACUUM ANALYZE")  # what autovacuum does to a settled database
    finally:
        await connection.close()


async def bench_query(
    database_url: str, *, smes: int = 100_000, pilots: int = 200_000, requests: int = 200
) -> dict[str, Any]:
    """Seed a fresh database next to `database_url`, time the endpoints, drop the database."""
    name = f"crm_bench_{uuid.uuid4().hex[:8]}"
    admin_dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade_database, url)
        started = time.perf_counter()
        await _seed(url, smes, pilots)
        seeded_seconds = time.perf_counter() - started
        settings = Settings(database_url=url, kafka_bootstrap=None)
        store = TokenStore(create_engine(url, pool_size=1))
        _, token = await store.create("analyst")
        await store.close()
        app = build_query_app(settings)
        results: dict[str, Any] = {"smes": smes, "pilots": pilots, "seed_seconds": round(seeded_seconds, 1)}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
                endpoints = {
                    "health": "/health",
                    "kpis": "/v1/programme/kpis",
                    "kpis_as_of": "/v1/programme/kpis?as_of=2020-12-31",
                    "pilots_open": "/v1/partners/tehnopol/pilots?status=open&limit=100",
                    "pilots_stalled": "/v1/partners/tehnopol/pilots?status=stalled&limit=100",
                    "pilots_market": "/v1/partners/tehnopol/pilots?market=CN&limit=100",
                }
                # One uncached computation of the KPIs (a write just happened), for the record.
                async with app.state.engine.connect() as connection:
                    begin = time.perf_counter()
                    await programme_kpis(connection)
                    results["kpis_uncached_compute_ms"] = round((time.perf_counter() - begin) * 1000, 1)
                for label, path in endpoints.items():
                    for _ in range(10):  # warm-up: pool, caches, plans
                        assert (await client.get(path)).status_code == 200
                    samples = []
                    for _ in range(requests):
                        begin = time.perf_counter()
                        response = await client.get(path)
                        samples.append(time.perf_counter() - begin)
                        assert response.status_code == 200, response.text
                    results[label] = latency_summary(samples)
        return results
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


ENDPOINT_FIGURES = {
    "kpis": "GET /v1/programme/kpis",
    "kpis_as_of": "GET kpis?as_of=2020-12-31",
    "pilots_open": "GET pilots?status=open",
    "pilots_stalled": "GET pilots?status=stalled",
    "pilots_market": "GET pilots?market=CN",
}


@benchmark("query")
async def query(context: BenchContext) -> list[Row]:
    assert context.settings.database_url
    smes, pilots, requests = context.scale(10_000, 100_000), context.scale(20_000, 200_000), context.scale(50, 200)
    results = await bench_query(context.settings.database_url, smes=smes, pilots=pilots, requests=requests)
    context.details["query"] = results
    health = results["health"]
    rows = [
        Row(
            "query API",
            f"{figure}, p99",
            results[label]["p99_ms"],
            "ms",
            ceiling=Reference("/health p99", health["p99_ms"]),
            note=f"p50 {results[label]['p50_ms']:.1f} ms; {requests} sequential requests",
        )
        for label, figure in ENDPOINT_FIGURES.items()
    ]
    rows[0] = replace(
        rows[0],
        note=f"{rows[0].note}; {smes:,} SMEs, {pilots:,} pilots; uncached compute "
        f"{results['kpis_uncached_compute_ms']:.0f} ms",
    )
    return rows
