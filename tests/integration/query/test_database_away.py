"""With PostgreSQL unreachable the query API answers a 503 problem with Retry-After, never 500."""

import httpx

from crm.auth.tokens import new_token
from crm.local.processes import free_port
from crm.query.bootstrap import build_query_app
from crm.settings import Settings
from tests.support.problems import assert_problem


async def test_an_unreachable_database_gives_503_with_retry_after() -> None:
    nobody_listens = f"postgresql+asyncpg://crm@127.0.0.1:{free_port()}/crm"
    app = build_query_app(Settings(database_url=nobody_listens, kafka_bootstrap=None, query_retry_after=11))
    _, token = new_token()  # well formed, so only the database can tell whether it is valid
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://query") as client:
        for path in ("/v1/me", "/v1/programme/kpis", "/v1/partners/tehnopol/pilots"):
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            problem = assert_problem(response, 503)
            assert response.headers["Retry-After"] == "11"  # the query service's own, not the gateway's
            assert "could not be checked" in problem["detail"]  # the token store's 503, as the gateway's
