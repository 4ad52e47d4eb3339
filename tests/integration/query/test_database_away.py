"""With PostgreSQL unreachable the query API answers 503 with Retry-After, never 500."""

import httpx

from crm.auth.tokens import new_token
from crm.infra.processes import free_port
from crm.query.bootstrap import build_query_app
from crm.settings import Settings


async def test_an_unreachable_database_gives_503_with_retry_after() -> None:
    nobody_listens = f"postgresql+asyncpg://crm@127.0.0.1:{free_port()}/crm"
    app = build_query_app(Settings(database_url=nobody_listens, kafka_bootstrap=None, query_retry_after=11))
    _, token = new_token()  # well formed, so only the database can tell whether it is valid
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://query") as client:
        for path in ("/v1/me", "/v1/programme/kpis", "/v1/partners/tehnopol/pilots"):
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 503, (path, response.text)
            assert response.headers["Retry-After"] == "11"  # the query service's own, not the gateway's
            assert "unavailable" in response.json()["detail"]
