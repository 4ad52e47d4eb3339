"""Exports: a whole list as CSV from one `crm query run` process, with its peak memory.

Seeds 200,000 pilots of one partner (20,000 quick; a quarter of the open ones stalled, so the
export's stall join has rows to join; and 1,000 of another partner, who must not show) in a fresh
database, then, over HTTP on loopback with the partner's own token:

- `GET /v1/partners/{p}/pilots?format=csv&all=true`: rows/s, from the request to the last byte;
- ceiling: PostgreSQL writing the very same rows as CSV itself (asyncpg `COPY (<the export's
  SELECT>) TO STDOUT WITH CSV`, nothing in Python but counting bytes): the most a CSV of these
  rows can flow out of this database;
- baseline: the same rows the way a client got them before, the JSON pages (`limit=1000`)
  walked by cursor, each page parsed for its `next`;
- the query service's peak RSS (`VmHWM` of /proc/<pid>/status, reset with `clear_refs` before
  each phase) during the export, beside its resident size before it (warm: one small export
  done), and during the page walk; and the same export as XLSX (rows/s, peak RSS).

    PYTHONPATH=. python -m bench exports
"""

import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from bench.gateway import partner_token
from bench.harness import MEMORY_LIMIT_MB, BenchContext, benchmark
from bench.http_load import cpu_seconds, wait_ready
from bench.memory import peak_rss_mb, reset_peak, resident_mb
from bench.report import Reference, Row, Target
from crm.local.processes import free_port
from crm.local.services import ServiceProcess, service_environment
from crm.query.listing import pilots_listing

PARTNER = "bench-partner"
OTHER = "other-partner"
PAGE = 1000

_SEED = """
INSERT INTO pilots (partner_id, sme_id, pilot_id, status, market, region, counterpart, title, opened_at,
                    closed_at, outcome, last_activity_at, agreement_ids)
SELECT p.partner, 'sme-' || (i / 2), 'p-' || lpad(i::text, 7, '0'),
       CASE WHEN i % 10 < 4 THEN 'open' ELSE 'closed' END, (ARRAY['CN','VN','CL'])[1 + i % 3], 'Guangzhou',
       'Counterpart ' || (i % 97), 'Härmälä pilot ' || i, t,
       CASE WHEN i % 10 >= 4 THEN t + interval '100 days' END,
       CASE WHEN i % 10 >= 4 THEN (ARRAY['won','lost','withdrawn'])[1 + i % 3] END, t + interval '20 days',
       CASE WHEN i % 7 = 0 THEN ARRAY['a-' || i] ELSE '{{}}' END
FROM (VALUES ('{partner}', {pilots}), ('{other}', 1000)) AS p(partner, n),
     LATERAL (SELECT i, timestamptz '2019-06-01' + (i % 900) * interval '1 day' AS t
              FROM generate_series(1, p.n) AS i) AS s;

INSERT INTO alerts (alert_id, partner_id, pilot_id, sme_id, fired_at, last_activity_at, idle_days, threshold_days,
                    last_notified_at)
SELECT gen_random_uuid(), partner_id, pilot_id, sme_id, last_activity_at + interval '31 days', last_activity_at,
       31, 30, last_activity_at + interval '31 days'
FROM pilots WHERE status = 'open' AND abs(hashtext(pilot_id)) % 4 = 0;
"""


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _seed(database_url: str, pilots: int) -> None:
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        await connection.execute(_SEED.format(partner=PARTNER, other=OTHER, pilots=pilots))
        await connection.execute("VACUUM ANALYZE")  # what autovacuum does to a settled database
    finally:
        await connection.close()


async def copy_ceiling(database_url: str) -> dict[str, Any]:
    """The export's own SELECT (the same rows, columns and order) as CSV, by PostgreSQL alone."""
    query = pilots_listing(PARTNER, whole=True).rows_after(None)
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    received = {"bytes": 0, "lines": 0}

    async def sink(chunk: bytes) -> None:
        received["bytes"] += len(chunk)
        received["lines"] += chunk.count(b"\n")

    connection = await asyncpg.connect(_dsn(database_url))
    try:
        await connection.execute("SET jit = off")  # as the export runs it (crm/query/listing.py whole_list)
        started = time.perf_counter()
        await connection.copy_from_query(sql, output=sink, format="csv", header=True)
        seconds = time.perf_counter() - started
    finally:
        await connection.close()
    rows = received["lines"] - 1
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "mb": received["bytes"] / 1e6}


async def _download(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    """One whole response, counted as it arrives (never held): rows (lines but the header), bytes."""
    size = lines = 0
    started = time.perf_counter()
    async with client.stream("GET", path) as response:
        assert response.status_code == 200, (path, response.status_code)
        async for chunk in response.aiter_raw():
            size += len(chunk)
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    return {"rows": lines - 1, "mb": size / 1e6, "seconds": seconds, "rows_per_s": (lines - 1) / seconds}


async def _walk_pages(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    rows = pages = size = 0
    cursor: str | None = None
    started = time.perf_counter()
    while True:
        params: dict[str, Any] = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text[:300]
        page = orjson.loads(response.content)
        rows, pages, size = rows + len(page["items"]), pages + 1, size + len(response.content)
        cursor = page["next"]
        if cursor is None:
            break
    seconds = time.perf_counter() - started
    return {"rows": rows, "pages": pages, "mb": size / 1e6, "seconds": seconds, "rows_per_s": rows / seconds}


async def _xlsx(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    started = time.perf_counter()
    response = await client.get(path)
    seconds = time.perf_counter() - started
    assert response.status_code == 200, response.text[:300]
    return {"seconds": seconds, "mb": len(response.content) / 1e6}


def _phase(pid: int | None, outcome: dict[str, Any], cpu_before: float) -> dict[str, Any]:
    return outcome | {"peak_rss_mb": peak_rss_mb(pid) if pid else None, "service_cpu_s": cpu_seconds(pid) - cpu_before}


async def bench_exports(context: BenchContext, pilots: int, *, xlsx: bool = True) -> dict[str, Any]:
    database_url = await context.fresh_database()
    started = time.perf_counter()
    await _seed(database_url, pilots)
    results: dict[str, Any] = {"pilots": pilots, "seed_seconds": round(time.perf_counter() - started, 1)}
    results["copy"] = await copy_ceiling(database_url)
    token = await partner_token(database_url, PARTNER)
    settings = context.settings.model_copy(update={"database_url": database_url})
    port = free_port()
    env = service_environment(settings, CRM_QUERY_PORT=str(port), CRM_LOG_LEVEL="warning")
    log_path = Path(settings.state_dir) / "logs" / "bench-exports-query.log"
    service = ServiceProcess("query", ["query", "run"], env, log_path)
    base = f"/v1/partners/{PARTNER}/pilots"
    try:
        service.start()
        await wait_ready(port, "/health", service.alive)
        pid = service.pid
        headers = {"Authorization": f"Bearer {token}"}
        timeout = httpx.Timeout(300.0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=timeout) as client:
            # Warm-up: the code paths, the pool, the plans; one small whole list and one page.
            warm = await client.get(
                f"/v1/partners/{PARTNER}/pilots",
                params={"format": "csv", "all": "true", "market": "CL", "status": "stalled"},
            )
            assert warm.status_code == 200, warm.text[:300]
            assert (await client.get(base, params={"limit": PAGE})).status_code == 200
            results["warm_rss_mb"] = resident_mb(pid) if pid else None
            results["peak_reset"] = reset_peak(pid) if pid else False

            cpu = cpu_seconds(pid)
            results["csv"] = _phase(pid, await _download(client, f"{base}?format=csv&all=true"), cpu)
            context.memory.observe("query", pid, "exports benchmark, CSV")
            reset_peak(pid) if pid else None
            cpu = cpu_seconds(pid)
            results["pages"] = _phase(pid, await _walk_pages(client, base), cpu)
            if xlsx:
                reset_peak(pid) if pid else None
                cpu = cpu_seconds(pid)
                results["xlsx"] = _phase(pid, await _xlsx(client, f"{base}?format=xlsx&all=true"), cpu)
            context.memory.observe("query", pid, "exports benchmark")
    finally:
        service.stop()
    return results


@benchmark("exports")
async def exports(context: BenchContext) -> list[Row]:
    pilots = context.scale(20_000, 200_000)
    results = await bench_exports(context, pilots)
    context.details["exports"] = results
    copy, csv, pages = results["copy"], results["csv"], results["pages"]
    assert csv["rows"] == pages["rows"] == copy["rows"] == pilots, (csv["rows"], pages["rows"], copy["rows"])
    peak_note = "" if results["peak_reset"] else "; VmHWM could not be reset: peaks since start"
    rows = [
        Row(
            "exports",
            f"CSV export of {pilots:,} pilots",
            csv["rows_per_s"],
            "rows/s",
            ceiling=Reference("COPY same rows", copy["rows_per_s"]),
            baseline=Reference(f"JSON pages of {PAGE}", pages["rows_per_s"]),
            note=f"{csv['mb']:.0f} MB in {csv['seconds']:.1f} s; service CPU {csv['service_cpu_s']:.1f} s; "
            f"pages: {pages['pages']} in {pages['seconds']:.1f} s",
        ),
        Row(
            "exports",
            "query peak RSS, CSV export",
            csv["peak_rss_mb"],
            "MB",
            baseline=Reference("RSS before it", results["warm_rss_mb"]),
            targets=(Target(MEMORY_LIMIT_MB, at_least=False),),
            note=f"VmHWM; grew {csv['peak_rss_mb'] - results['warm_rss_mb']:.1f} MB sending {csv['mb']:.0f} MB; "
            f"JSON pages' peak {pages['peak_rss_mb']:.0f} MB{peak_note}",
        ),
    ]
    if "xlsx" in results:
        xlsx = results["xlsx"]
        rows.append(
            Row(
                "exports",
                f"XLSX export of {pilots:,} pilots",
                pilots / xlsx["seconds"],
                "rows/s",
                ceiling=Reference("CSV export", csv["rows_per_s"]),
                note=f"{xlsx['mb']:.0f} MB in {xlsx['seconds']:.1f} s; query peak RSS {xlsx['peak_rss_mb']:.0f} MB",
            )
        )
    return rows
