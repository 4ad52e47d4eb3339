"""Security of the query API, with the routes taken from the app itself (a new endpoint is covered
without editing this file): a partner token never sees another partner's data in JSON, CSV or the
dashboard; the only writes (a partner's snooze and acknowledgement) refuse analysts and other
partners and change nothing when refused, and no other route takes a write method; an
SQL-injection string in any parameter of any endpoint gets a 4xx or the same answer as without it
(a write: the string stored as plain data), never a 5xx, and leaves the database as it was.

Cross-partner refusal of the partner-path endpoints (403 in JSON and CSV) is also in
`test_query_api.py`; this file adds what an enumeration of the app gives: every route, every
output, and markers of the other partner's data that must never appear in any answer."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select, table

from crm.contract.decoding import decode_event
from crm.contract.events import DomainEvent
from crm.db.alert_tables import alert_outbox, alerts, applied_alert_events, partner_webhooks, pilot_snoozes
from crm.db.engine import create_engine
from crm.db.tables import agreements, api_tokens, applied_events, pilots, sme_markets, sme_timeline, smes
from crm.programmes.loading import parse_programme
from crm.programmes.store import ProgrammeStore
from crm.query.bootstrap import build_query_app
from crm.query.pagination import encode_cursor
from crm.reports.store import ReportStore
from crm.settings import Settings
from tests.support.events import envelope
from tests.support.query import QueryApi, load_into_read_models, running_query_api, stall_alerts
from tests.support.security import ServedRoute, served_routes

pytestmark = pytest.mark.infra

OWN, OTHER = "tehnopol", "sisp"
# Values that exist only in sisp's data: never in a request, so finding one in an answer to a
# tehnopol token is a leak, not an echo of what the client sent.
SECRETS = ["SispSecret", "si-hidden", "si-secret-p", "si-secret-q", "si-secret-a"]
# A value for every path parameter of the app; a new parameter fails the test until it has one.
PATH_VALUES = {
    "partner_id": {OWN: OWN, OTHER: OTHER},
    "sme_id": {OWN: "ee-own", OTHER: "si-secret"},
    "name": {OWN: "dashboard.js", OTHER: "dashboard.js"},  # the dashboard's static files
    "asset": {OWN: "swagger-ui.css", OTHER: "swagger-ui.css"},  # /docs's (crm.http_docs)
    "pilot_id": {OWN: "ee-own-p", OTHER: "ee-own-p"},  # the same id under the other partner's path
    "alert_id": {OWN: "00000000-0000-4000-8000-000000000000", OTHER: "00000000-0000-4000-8000-000000000000"},
    "programme_id": {OWN: "default", OTHER: "default"},  # both partners are in it (PROGRAMME below)
    "code": {OWN: "OUT-1", OTHER: "OUT-1"},
    "period": {OWN: "1", OTHER: "1"},
}
# The programme both partners' (version-1) events belong to, with an indicator per kind of thing.
PROGRAMME = """
id = "default"
name = "Two partners"
funding_programme = "F"
objective = "O"
start = 2020-01-01
end = 2021-12-31
[[partners]]
id = "sisp"
legal_name = "SISP"
short_name = "SISP"
country = "SE"
role = "lead"
[[partners]]
id = "tehnopol"
legal_name = "Tehnopol"
short_name = "Tehnopol"
country = "EE"
[[periods]]
number = 1
start = 2020-01-01
end = 2021-12-31
report_deadline = 2022-03-31
""" + "".join(
    f'[[indicators]]\ncode = "OUT-{n}"\nname = "{m}"\nunit = "u"\nmeasure = "{m}"\ntarget = 1\n'
    for n, m in enumerate(
        ("smes_selected", "smes_in_matchmaking", "matchmaking_markets", "meetings_held", "pilots_opened", "agreements"),
        start=1,
    )
)
# The partner's own answers to its alerts (alert_controls.py): the API's only writes.
PARTNER_WRITES = {
    ("PUT", "/v1/partners/{partner_id}/pilots/{pilot_id}/snooze"),
    ("POST", "/v1/partners/{partner_id}/alerts/{alert_id}/acknowledge"),
}
# A programme's report steps (reports.py): for analysts and the lead partner (sisp) only.
STEWARD_WRITES = {
    ("POST", "/v1/programmes/{programme_id}/reports/{period}/freeze"),
    ("POST", "/v1/programmes/{programme_id}/reports/{period}/reopen"),
}
WRITE_BODIES = {"PUT": {"until": "2030-01-01T00:00:00Z"}}
ANALYSTS_ONLY = {"/v1/programme/kpis"}  # programme-wide: every partner's figures
OUTPUTS: list[dict[str, Any]] = [{}, {"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}]
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
INJECTIONS = [
    "'; DROP TABLE smes; --",
    "x' OR '1'='1",
    "1) OR (1=1",
    "tehnopol' UNION SELECT token_hash FROM api_tokens --",
    '"; SELECT pg_sleep(5); --',
    "%27%3B--",
    "\\'; TRUNCATE applied_events; --",
    "ee-own'/**/OR/**/1=1--",
    "$$; DELETE FROM pilots; $$",
    "\x00",
]
TABLES = [
    smes,
    sme_markets,
    pilots,
    agreements,
    sme_timeline,
    applied_events,
    api_tokens,
    alerts,
    applied_alert_events,
    alert_outbox,
    partner_webhooks,
    pilot_snoozes,
    table("reports"),
    table("report_steps"),
]


def _event(event_type: str, partner: str, sme: str, day: int, **payload: Any) -> DomainEvent:
    body = envelope(
        event_type, payload or None, partner_id=partner, sme_id=sme, occurred_at=f"2020-0{day}-10T09:00:00Z"
    )
    return decode_event(json.dumps(body))


def _history(partner: str, sme: str, secret: str) -> list[DomainEvent]:
    """A whole life for one SME of `partner`: selected, trained, met, a pilot (stalled), a deal."""
    return [
        _event(
            "SMESelected", partner, sme, 1, name=f"{secret} Robotics", country="EE", sector="ICT", target_markets=["CN"]
        ),
        _event("TrainingCompleted", partner, sme, 2, training="Export"),
        _event(
            "MeetingHeld",
            partner,
            sme,
            3,
            market="CN",
            region=f"{secret}Region",
            counterpart=f"{secret}Counterpart",
            format="digital",
        ),
        _event(
            "PilotOpened",
            partner,
            sme,
            4,
            pilot_id=f"{sme}-p",
            market="CN",
            counterpart=f"{secret}Counterpart",
            title=f"{secret} secret pilot title",
        ),
        _event("PilotOpened", partner, sme, 4, pilot_id=f"{sme}-q", market="VN", counterpart="Hanoi"),
        _event(
            "AgreementSigned",
            partner,
            sme,
            5,
            agreement_id=f"{sme}-a",
            agreement_type="sales",
            market="VN",
            counterpart=f"{secret}Counterpart",
            pilot_id=f"{sme}-q",
        ),
    ]


async def seed_two_partners(settings: Settings) -> None:
    events = [
        *_history(OWN, "ee-own", "Tehnopol Own"),
        *_history(OTHER, "si-secret", "SispSecret"),
        _event(
            "SMESelected",
            OTHER,
            "si-hidden",
            1,
            name="SispSecret Robotics Two",
            country="SI",
            sector="ICT",
            target_markets=["CL"],
        ),
    ]
    found = await stall_alerts(events, datetime(2021, 1, 1, tzinfo=UTC), threshold_days=30)
    assert {a.partner_id for a in found} == {OWN, OTHER}  # each partner has an alert to (not) leak
    await load_into_read_models(settings, events, found)
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        await ProgrammeStore(engine).apply(parse_programme(PROGRAMME, Path("programme.toml")), None)
        await ReportStore(engine).freeze("default", 1, "sisp")  # a frozen report with restatements to read
    finally:
        await engine.dispose()


def get_routes(api: QueryApi) -> list[ServedRoute]:
    routes = served_routes(api.client._transport.app.routes)  # type: ignore[attr-defined]
    assert {"/v1/partners/{partner_id}/smes", "/v1/programme/kpis", "/", "/dashboard/{name}"} <= {
        route.path for route in routes
    }
    return routes


def path_for(route: ServedRoute, whose: str) -> str:
    path = route.path
    for name in route.parameters:
        assert name in PATH_VALUES, f"{route.path}: new path parameter {name!r}; give it values in PATH_VALUES"
        path = path.replace(f"{{{name}}}", PATH_VALUES[name][whose])
    return path


def leaked(response: httpx.Response) -> list[str]:
    text = response.text + json.dumps(dict(response.headers))
    return [secret for secret in SECRETS if secret in text]


async def test_a_partner_token_never_reads_another_partners_data_on_any_route(isolated: Settings) -> None:
    await seed_two_partners(isolated)
    async with running_query_api(isolated) as api:
        seen_by_analyst = ""
        for route in get_routes(api):
            per_partner = "partner_id" in route.parameters
            for method in WRITE_METHODS:
                if (method, route.path) in PARTNER_WRITES:  # only the path's own partner may write
                    await _refused_write(api, method, route)
                    continue
                if (method, route.path) in STEWARD_WRITES:  # not a partner other than the lead
                    await _refused_steward_write(api, method, route)
                    continue
                response = await api.client.request(method, path_for(route, OWN), headers=api.auth(api.partner_token))
                assert response.status_code == 405, (method, route.path, response.status_code)
            if "GET" not in route.methods:
                continue
            for output in OUTPUTS:
                own = await api.get(path_for(route, OWN), api.partner_token, **output)
                expected = 403 if route.path in ANALYSTS_ONLY else 200
                assert own.status_code == expected, (route.path, output, own.text[:300])
                assert leaked(own) == [], (route.path, output)
                other = await api.get(path_for(route, OTHER), api.partner_token, **output)
                assert leaked(other) == [], (route.path, output)
                if per_partner or route.path in ANALYSTS_ONLY:
                    assert other.status_code == 403, (route.path, output, other.status_code)
                analyst = await api.get(path_for(route, OTHER), api.analyst_token, **output)
                assert analyst.status_code == 200, (route.path, output, analyst.text[:300])
                seen_by_analyst += analyst.text
        # The markers are reachable (an analyst sees them all), so the checks above can fail.
        assert [secret for secret in SECRETS if secret not in seen_by_analyst] == []


async def _refused_write(api: QueryApi, method: str, route: ServedRoute) -> None:
    """Another partner's token and an analyst's get 403, no token 401; none of them changes a row."""
    before = await _row_counts(api.settings)
    body = WRITE_BODIES.get(method)
    callers = [
        (path_for(route, OTHER), api.auth(api.partner_token), 403),
        (path_for(route, OWN), api.auth(api.other_partner_token), 403),
        (path_for(route, OWN), api.auth(api.analyst_token), 403),
        (path_for(route, OWN), {}, 401),
    ]
    for path, headers, expected in callers:
        response = await api.client.request(method, path, json=body, headers=headers)
        assert response.status_code == expected, (method, path, response.status_code, response.text[:300])
        assert response.json()["detail"] and leaked(response) == []
    assert await _row_counts(api.settings) == before, f"a refused {method} {route.path} changed the database"


async def _refused_steward_write(api: QueryApi, method: str, route: ServedRoute) -> None:
    """A partner other than the programme's lead gets 403, no token 401; neither changes a row."""
    before = await _row_counts(api.settings)
    for headers, expected in ((api.auth(api.partner_token), 403), ({}, 401)):
        response = await api.client.request(method, path_for(route, OWN), headers=headers)
        assert response.status_code == expected, (method, route.path, response.status_code, response.text[:300])
        assert response.json()["detail"] and leaked(response) == []
    assert await _row_counts(api.settings) == before, f"a refused {method} {route.path} changed the database"


async def test_the_dashboard_is_the_same_static_page_for_every_caller(isolated: Settings) -> None:
    await seed_two_partners(isolated)
    async with running_query_api(isolated) as api:
        for path in ("/", "/dashboard/dashboard.js", "/dashboard/dashboard.css"):
            answers = [
                await api.client.get(path, headers=api.auth(token))
                for token in (None, api.partner_token, api.other_partner_token, api.analyst_token)
            ]
            assert {a.status_code for a in answers} == {200}
            assert len({a.content for a in answers}) == 1, f"{path} differs by caller: data served outside the API"
            assert leaked(answers[0]) == []


def _parameters(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path template, method, parameter) for every parameter of every operation of the OpenAPI."""
    found = []
    for template, operations in schema["paths"].items():
        for method, operation in operations.items():
            found += [(template, method, parameter) for parameter in operation.get("parameters", [])]
    return found


def _fill(template: str) -> str:
    for name, values in PATH_VALUES.items():
        template = template.replace(f"{{{name}}}", values[OWN])
    return template


def _comparable(response: httpx.Response) -> Any:
    if "json" not in response.headers.get("content-type", ""):
        return response.text
    body = response.json()
    if isinstance(body, dict):
        body.pop("freshness", None)
        body.pop("checked_at", None)
    return body


async def _row_counts(settings: Settings) -> dict[str, int]:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return {t.name: int(await connection.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES}
    finally:
        await engine.dispose()


async def test_injection_strings_in_every_parameter_of_every_endpoint_are_harmless(isolated: Settings) -> None:
    await seed_two_partners(isolated)
    app = build_query_app(isolated)
    parameters = _parameters(app.openapi())
    # Every kind of parameter the API has is attacked (a new one is picked up from the OpenAPI).
    assert {"path", "query", "header"} <= {p["in"] for _, _, p in parameters}
    assert len(parameters) >= 20, parameters
    statuses: dict[int, int] = {}
    async with running_query_api(isolated) as api:
        before = await _row_counts(isolated)
        assert before["smes"] and before["alerts"] and before["api_tokens"]
        for template, method, parameter in parameters:
            writes = method.upper() != "GET"  # a partner write: attacked with that partner's token
            steward = (method.upper(), template) in STEWARD_WRITES  # a report step: with an analyst's
            for attack in INJECTIONS:
                token = api.partner_token if writes and not steward else api.analyst_token
                path, params, headers = _fill(template), {}, dict(api.auth(token))
                if parameter["in"] == "path":
                    path = template.replace(f"{{{parameter['name']}}}", quote(attack, safe=""))
                    path = _fill(path)
                elif parameter["in"] == "query":
                    params[parameter["name"]] = attack
                elif parameter["in"] == "header":
                    if "\x00" in attack:
                        continue  # httpx refuses a NUL in a header before sending
                    headers[parameter["name"]] = attack
                body = WRITE_BODIES.get(method.upper())
                response = await api.client.request(method.upper(), path, params=params, headers=headers, json=body)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                where = (method, template, parameter["name"], attack)
                allowed = (
                    (200, 400, 404, 422, 403) if writes and parameter["name"] == "partner_id" else (200, 400, 404, 422)
                )
                if steward:  # the seed's report is submitted: a valid path gets a refusal (409)
                    allowed = (400, 404, 409, 422)
                assert response.status_code in allowed, (*where, response.status_code, response.text[:300])
                if response.status_code == 200 and writes:  # stored, as the plain string it was
                    assert response.json()[parameter["name"]] == attack, where
                elif response.status_code == 200:  # accepted: then it changed nothing of the answer
                    plain = await api.client.request(
                        method.upper(), _fill(template), headers=api.auth(api.analyst_token)
                    )
                    assert _comparable(response) == _comparable(plain), where
                else:
                    assert response.json()["detail"], where
        # A well-formed cursor (as the API encodes them) carrying an attack, in every list's key shape.
        for route in ("smes", "pilots", "agreements", "alerts"):
            for attack in [*INJECTIONS, "\ud800", "é\u0000"]:
                for arity in (1, 2, 3, 4):
                    cursor = encode_cursor((attack,) * arity)
                    response = await api.get(f"/v1/partners/{OWN}/{route}", params={"cursor": cursor})
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    assert response.status_code in (200, 400), (route, attack, arity, response.text[:300])
        assert (await api.get(f"/v1/partners/{OWN}/smes")).json()["total"] == 1
    assert await _row_counts(isolated) == before, "the database changed"
    assert statuses.get(422, 0) and statuses.get(404, 0) and statuses.get(400, 0), statuses
