"""The query API's /metrics and /ready on the real PostgreSQL; /ready refuses a schema behind."""

from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from crm.db.engine import create_engine
from crm.db.migrate import release_revisions
from crm.settings import Settings
from tests.support.query import QueryApi, running_query_api

pytestmark = pytest.mark.infra


@pytest.fixture
async def api(isolated: Settings) -> AsyncIterator[QueryApi]:
    async with running_query_api(isolated) as live:
        yield live


async def test_requests_are_counted_by_route_template(api: QueryApi) -> None:
    route = {"route": "/v1/partners/{partner_id}/smes", "method": "GET", "status": "200"}
    before = REGISTRY.get_sample_value("crm_http_requests_total", route) or 0.0
    assert (await api.get("/v1/partners/tehnopol/smes")).status_code == 200
    scraped = await api.client.get("/metrics")
    assert scraped.status_code == 200 and 'route="/v1/partners/{partner_id}/smes"' in scraped.text
    assert REGISTRY.get_sample_value("crm_http_requests_total", route) == before + 1


async def test_ready_while_the_schema_is_current_and_not_once_it_is_behind(api: QueryApi) -> None:
    ready = await api.client.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "database": "reachable", "schema": "current"})
    engine = create_engine(api.settings.database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        behind = await api.client.get("/ready")
        assert behind.status_code == 503 and behind.headers["content-type"] == "application/problem+json"
        assert behind.json()["schema"] == "behind" and behind.json()["detail"] == "not ready: schema behind"
        assert "crm_ready 0.0" in (await api.client.get("/metrics")).text
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = 'from-a-newer-release'"))
        newer = await api.client.get("/ready")  # as at start: accepted, for rolling upgrades
        assert newer.status_code == 200 and newer.json()["schema"] == "current", newer.text
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM alembic_version"))
            for head in release_revisions()[0]:
                await connection.execute(text("INSERT INTO alembic_version VALUES (:head)"), {"head": head})
        await engine.dispose()
