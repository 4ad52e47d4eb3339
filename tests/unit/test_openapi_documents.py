"""The OpenAPI documents of both services (crm.http_openapi over FastAPI's), built without I/O:
readable unique operationIds, no stale entry in the tables naming them, every error a problem."""

from typing import Any
from unittest.mock import AsyncMock

import pytest
from fastapi import FastAPI

from crm.gateway import app as gateway
from crm.query import app as query
from crm.settings import Settings


def gateway_app() -> FastAPI:
    return gateway.create_app(Settings(), AsyncMock(), AsyncMock(), AsyncMock(), AsyncMock())


def query_app() -> FastAPI:
    return query.create_app(Settings(), AsyncMock(), AsyncMock(), AsyncMock())


def operations(app: FastAPI) -> dict[str, dict[str, Any]]:
    found = {}
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            found[operation["operationId"]] = operation | {"at": f"{method.upper()} {path}"}
    return found


@pytest.mark.parametrize(("make", "names"), [(gateway_app, gateway.OPERATION_IDS), (query_app, query.OPERATION_IDS)])
def test_operation_ids_are_readable_unique_and_the_table_has_no_stale_entry(make: Any, names: dict[str, str]) -> None:
    app = make()
    found = operations(app)
    count = sum(len(item) for item in app.openapi()["paths"].values())
    assert len(found) == count  # unique
    assert all(name.isidentifier() and "__" not in name and "_v1_" not in name for name in found), sorted(found)
    assert set(names.values()) <= set(found), set(names.values()) - set(found)


def test_the_names_partners_read() -> None:
    assert {"send_events", "check_readiness"} <= set(operations(gateway_app()))
    assert {"list_pilots", "list_smes", "get_programme_kpis", "snooze_pilot", "export_report"} <= set(
        operations(query_app())
    )


@pytest.mark.parametrize("make", [gateway_app, query_app])
def test_every_error_is_a_problem_and_a_token_check_declares_401_and_503(make: Any) -> None:
    for name, operation in operations(make()).items():
        responses = operation["responses"]
        for code, response in responses.items():
            if int(code) >= 400:
                schema = response["content"]["application/problem+json"]["schema"]["$ref"]
                assert schema.endswith("/ValidationProblem" if code == "422" else "/Problem"), (name, code)
                assert set(response["content"]) == {"application/problem+json"}, (name, code)
        if "security" in operation:
            assert responses["401"]["headers"]["WWW-Authenticate"]["required"], name
            assert responses["503"]["headers"]["Retry-After"]["required"], name


def test_csv_and_the_x_crm_headers_are_declared_where_they_are_answered() -> None:
    found = operations(query_app())
    for name in ("list_pilots", "list_smes", "get_programme_kpis", "get_funnel"):
        ok = found[name]["responses"]["200"]
        assert "text/csv" in ok["content"], name
        assert {"X-CRM-Newest-Event-At", "X-CRM-Last-Applied-At", "X-CRM-Projector-Lag"} <= set(ok["headers"]), name
    assert {"X-CRM-Next-Cursor", "X-CRM-Total"} <= set(found["list_pilots"]["responses"]["200"]["headers"])
    assert "X-CRM-Total" not in found["get_funnel"]["responses"]["200"]["headers"]  # not a page
    assert "application/pdf" in found["export_report"]["responses"]["200"]["content"]
    assert "text/csv" not in found["get_me"]["responses"]["200"]["content"]
