"""The query API against the real PostgreSQL: roles, lists, filters, pages, CSV, errors, freshness."""

import csv
import io
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from crm.alerts.queries import stalled_pilots
from crm.contract.decoding import decode_event
from crm.db.engine import create_engine
from crm.db.tables import smes
from crm.settings import Settings
from tests.support.events import envelope
from tests.support.query import QueryApi, load_4smartgrowth, load_into_read_models, running_query_api

pytestmark = pytest.mark.infra

PARTNER_PATHS = [
    "/v1/partners/{p}/funnel",
    "/v1/partners/{p}/smes",
    "/v1/partners/{p}/smes/ee-smartlight",
    "/v1/partners/{p}/pilots",
    "/v1/partners/{p}/agreements",
    "/v1/partners/{p}/alerts",
]
FORMULA = '=HYPERLINK("http://evil.invalid","click")'


def events(*bodies: dict[str, Any]) -> list[Any]:
    return [decode_event(json.dumps(body)) for body in bodies]


async def seed_small(settings: Settings) -> None:
    """tehnopol: ee-smartlight (the whole life), ee-formula (a hostile name, withdrawn); sisp: one SME."""
    selected = {**envelope("SMESelected")["payload"], "name": FORMULA}
    await load_into_read_models(
        settings,
        events(
            envelope("SMESelected", occurred_at="2020-01-10T09:00:00Z"),
            envelope("TrainingCompleted", occurred_at="2020-02-10T09:00:00Z"),
            envelope("PilotOpened", occurred_at="2020-03-10T09:00:00Z"),
            envelope("AgreementSigned", occurred_at="2020-04-10T09:00:00Z"),
            envelope("SMESelected", selected, sme_id="ee-formula", occurred_at="2020-01-11T09:00:00Z"),
            envelope("SMEWithdrawn", sme_id="ee-formula", occurred_at="2020-05-11T09:00:00Z"),
            envelope("SMESelected", partner_id="sisp", sme_id="si-one", occurred_at="2020-01-12T09:00:00Z"),
        ),
        [],
    )


def assert_fresh(response: Any) -> None:
    assert response.headers["x-crm-newest-event-at"] != ""
    assert "x-crm-projector-lag" in response.headers


async def test_roles_no_token_401_other_partner_403_in_json_and_csv_analyst_reads_all(isolated: Settings) -> None:
    await seed_small(isolated)
    async with running_query_api(isolated) as api:
        for template in [*PARTNER_PATHS, "/v1/programme/kpis", "/v1/me", "/v1/status"]:
            path = template.format(p="tehnopol")
            anonymous = await api.client.get(path)
            assert anonymous.status_code == 401, path
            assert anonymous.headers["content-type"] == "application/problem+json"
            assert anonymous.json()["detail"] and anonymous.headers["www-authenticate"] == "Bearer"
            assert "x-crm-newest-event-at" not in anonymous.headers  # nothing for an unknown caller
            forged = await api.client.get(path, headers={"Authorization": "Bearer crm_0123456789abcdef_nope"})
            assert forged.status_code == 401, path
            assert (await api.get(path, api.analyst_token)).status_code == 200, path
        for template in PARTNER_PATHS:
            own, other = template.format(p="tehnopol"), template.format(p="sisp")
            assert (await api.get(own, api.partner_token)).status_code == 200, own
            for extra in ({}, {"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}):
                refused = await api.get(other, api.partner_token, **extra)
                assert refused.status_code == 403, (other, extra)
                assert refused.headers["content-type"] == "application/problem+json"
                assert refused.json() == {
                    "type": "about:blank",
                    "title": "Forbidden",
                    "status": 403,
                    "detail": "this token may only read its own partner",
                    "instance": other,
                }
                assert "x-crm-newest-event-at" not in refused.headers
        refused = await api.get("/v1/programme/kpis", api.partner_token)
        assert refused.status_code == 403
        me = (await api.get("/v1/me", api.partner_token)).json()
        assert (me["role"], me["partner_id"]) == ("partner", "tehnopol")
        assert (await api.get("/v1/me")).json()["role"] == "analyst"
        # An analyst reads any partner, even one with no data yet.
        assert (await api.get("/v1/partners/nobody-yet/smes")).json()["total"] == 0


async def test_lists_filters_and_pages_agree_with_the_read_models(isolated: Settings) -> None:
    await load_4smartgrowth(isolated)
    engine = create_engine(isolated.database_url, pool_size=1)
    async with running_query_api(isolated) as api:
        kpis = (await api.get("/v1/programme/kpis")).json()
        for partner_id in kpis["partners"]:
            base = f"/v1/partners/{partner_id}"
            all_smes = (await api.get(f"{base}/smes", params={"limit": 1000})).json()
            async with engine.connect() as connection:
                count = await connection.scalar(
                    select(func.count()).select_from(smes).where(smes.c.partner_id == partner_id)
                )
                stalled = await stalled_pilots(connection, partner_id)
            assert all_smes["total"] == count == len(all_smes["items"]) and all_smes["next"] is None
            ids = [item["sme_id"] for item in all_smes["items"]]
            assert ids == sorted(ids)
            assert await walk(api, f"{base}/smes", limit=4, key="sme_id") == ids
            for stage in ("selected", "trained", "met", "piloting", "agreement"):
                page = (await api.get(f"{base}/smes", params={"stage": stage, "limit": 1000})).json()
                assert [i["sme_id"] for i in page["items"]] == [
                    i["sme_id"] for i in all_smes["items"] if i["stage"] == stage
                ]
            withdrawn = (await api.get(f"{base}/smes", params={"withdrawn": "true"})).json()
            assert withdrawn["total"] == kpis["partners"][partner_id]["smes_withdrawn"]
            assert all(i["withdrawn"] for i in withdrawn["items"])
            in_cn = (await api.get(f"{base}/smes", params={"market": "CN", "limit": 1000})).json()
            assert 0 < in_cn["total"] <= count

            pilots = (await api.get(f"{base}/pilots", params={"limit": 1000})).json()
            open_ = (await api.get(f"{base}/pilots", params={"status": "open", "limit": 1000})).json()
            closed = (await api.get(f"{base}/pilots", params={"status": "closed", "limit": 1000})).json()
            stalled_page = (await api.get(f"{base}/pilots", params={"status": "stalled", "limit": 1000})).json()
            assert open_["total"] == kpis["partners"][partner_id]["pilots_in_discussion"]
            assert {p["pilot_id"] for p in open_["items"]} | {p["pilot_id"] for p in closed["items"]} <= {
                p["pilot_id"] for p in pilots["items"]
            }
            assert {(p["pilot_id"], p["idle_days"]) for p in stalled_page["items"]} == {
                (s.pilot_id, s.idle_days) for s in stalled
            }
            assert stalled_page["total"] == kpis["partners"][partner_id]["pilots_stalled"]
            assert all(p["stalled"] and p["threshold_days"] == 30 for p in stalled_page["items"])
            assert not any(p["stalled"] for p in closed["items"])
            assert await walk(api, f"{base}/pilots", limit=3, key="pilot_id") == [
                p["pilot_id"] for p in pilots["items"]
            ]
            cn = (await api.get(f"{base}/pilots", params={"market": "CN", "status": "open"})).json()
            assert all(p["market"] == "CN" and p["status"] == "open" for p in cn["items"])

            agreements = (await api.get(f"{base}/agreements")).json()
            assert agreements["total"] == sum(kpis["partners"][partner_id]["agreements_by_type"].values())
            assert await walk(api, f"{base}/agreements", limit=1, key="agreement_id") == [
                a["agreement_id"] for a in agreements["items"]
            ]
            alerts = (await api.get(f"{base}/alerts", params={"open": "true"})).json()
            assert {a["pilot_id"] for a in alerts["items"]} == {s.pilot_id for s in stalled}
            assert all(a["status"] == "firing" for a in alerts["items"])
            assert await walk(api, f"{base}/alerts", limit=2, key="alert_id") == [
                a["alert_id"] for a in (await api.get(f"{base}/alerts")).json()["items"]
            ]
    await engine.dispose()


async def walk(api: QueryApi, path: str, *, limit: int, key: str) -> list[str]:
    """Every item's key, following `next` page after page."""
    keys: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = (await api.get(path, params=params)).json()
        assert len(page["items"]) <= limit
        keys += [item[key] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            assert len(keys) == page["total"]
            return keys


async def test_csv_on_request_is_spreadsheet_safe_and_paged(isolated: Settings) -> None:
    await seed_small(isolated)
    async with running_query_api(isolated) as api:
        by_accept = await api.get("/v1/partners/tehnopol/smes", headers={"Accept": "text/csv"}, params={"limit": 1})
        by_param = await api.get("/v1/partners/tehnopol/smes", params={"format": "csv", "limit": 1})
        assert by_accept.text == by_param.text
        assert by_accept.headers["content-type"].startswith("text/csv")
        assert by_accept.headers["x-crm-total"] == "2" and by_accept.headers["x-crm-next-cursor"]
        assert_fresh(by_accept)
        second = await api.get(
            "/v1/partners/tehnopol/smes",
            params={"format": "csv", "limit": 1, "cursor": by_accept.headers["x-crm-next-cursor"]},
        )
        rows = list(csv.DictReader(io.StringIO(by_accept.text))) + list(csv.DictReader(io.StringIO(second.text)))
        assert [r["sme_id"] for r in rows] == ["ee-formula", "ee-smartlight"]
        assert rows[0]["name"] == "'" + FORMULA  # shown as text, never evaluated
        assert rows[0]["withdrawn"] == "true" and rows[1]["target_markets"] == "CN;VN"
        assert second.headers["x-crm-next-cursor"] == ""

        funnel = list(csv.DictReader(io.StringIO((await api.get("/v1/partners/tehnopol/funnel?format=csv")).text)))
        assert funnel[0] == {
            "market": "(all)",
            "selected": "2",
            "trained": "1",
            "met": "1",
            "piloting": "1",
            "agreement": "1",
        }
        kpis = list(csv.DictReader(io.StringIO((await api.get("/v1/programme/kpis?format=csv")).text)))
        assert [r["partner_id"] for r in kpis] == ["(programme)", "sisp", "tehnopol"]
        assert kpis[0]["smes_selected"] == "3" and kpis[2]["agreements_by_type.sales"] == "1"
        timeline = list(
            csv.DictReader(io.StringIO((await api.get("/v1/partners/tehnopol/smes/ee-smartlight?format=csv")).text))
        )
        assert [r["event_type"] for r in timeline] == [
            "SMESelected",
            "TrainingCompleted",
            "PilotOpened",
            "AgreementSigned",
        ]
        # Finding 10 of issue 13: the payload column was empty; it holds the payload as JSON text.
        assert list(timeline[0]) == ["partner_id", "sme_id", "occurred_at", "event_type", "event_id", "payload"]
        assert json.loads(timeline[2]["payload"])["pilot_id"] == "p-17"
        assert json.loads(timeline[0]["payload"])["target_markets"] == ["CN", "VN"]
        for path in ("pilots", "agreements", "alerts"):
            response = await api.get(f"/v1/partners/tehnopol/{path}", headers={"Accept": "text/csv"})
            assert response.status_code == 200 and response.text.count("\r\n") >= 1


async def test_one_sme_with_its_timeline_in_event_time_order(isolated: Settings) -> None:
    await seed_small(isolated)
    async with running_query_api(isolated) as api:
        sme = (await api.get("/v1/partners/tehnopol/smes/ee-smartlight", api.partner_token)).json()
        assert sme["stage"] == "agreement" and sme["name"] == "SmartLight OÜ"
        assert [e["event_type"] for e in sme["timeline"]] == [
            "SMESelected",
            "TrainingCompleted",
            "PilotOpened",
            "AgreementSigned",
        ]
        assert (sme["timeline_total"], sme["timeline_next"]) == (4, None)  # all of it on the first page
        assert sme["timeline"][2]["payload"]["pilot_id"] == "p-17"
        assert [m["market"] for m in sme["markets"]] == ["CN"]
        missing = await api.get("/v1/partners/tehnopol/smes/no-such-sme", api.partner_token)
        assert missing.status_code == 404 and "no-such-sme" in missing.json()["detail"]
        # sisp's SME id under tehnopol's partner is not found; under sisp it is forbidden to tehnopol.
        assert (await api.get("/v1/partners/tehnopol/smes/si-one")).status_code == 404
        assert (await api.get("/v1/partners/sisp/smes/si-one", api.partner_token)).status_code == 403


LONG_NOTE = "n" * 3900


async def seed_long_timeline(settings: Settings, count: int) -> list[str]:
    """tehnopol's ee-busy: SMESelected and `count` long PilotUpdated notes, several at the same
    instant (the cursor's tie on `occurred_at` is broken by the event id); sisp's si-busy: a few.
    Returns ee-busy's event ids in the timeline's order."""
    bodies = [envelope("SMESelected", sme_id="ee-busy", occurred_at="2020-01-01T00:00:00Z")]
    for n in range(count):
        at = f"2020-02-{1 + n // 10:02d}T09:00:00.{n % 3:06d}Z"  # ten a day, three instants a day
        note = {"pilot_id": "p-1", "note": f"{n} {LONG_NOTE}"}
        bodies.append(envelope("PilotUpdated", note, sme_id="ee-busy", occurred_at=at))
    bodies += [envelope("SMESelected", partner_id="sisp", sme_id="si-busy") for _ in range(3)]
    await load_into_read_models(settings, events(*bodies), [])
    ours = [b for b in bodies if b["partner_id"] == "tehnopol"]
    return [b["event_id"] for b in sorted(ours, key=lambda b: (b["occurred_at"].replace("Z", ""), b["event_id"]))]


async def test_the_sme_detail_carries_a_first_page_and_the_timeline_pages_on_with_a_cursor(isolated: Settings) -> None:
    # Finding 9 of issue 13: the detail returned all of an SME's events (2,000 long notes, 8.3 MB).
    expected = await seed_long_timeline(isolated, 160)
    base = "/v1/partners/tehnopol/smes/ee-busy"
    async with running_query_api(isolated) as api:
        detail = (await api.get(base, api.partner_token)).json()
        assert [e["event_id"] for e in detail["timeline"]] == expected[:50]
        assert detail["timeline_total"] == 161 and detail["timeline_next"]
        seen = [e["event_id"] for e in detail["timeline"]]
        cursor = detail["timeline_next"]
        while cursor is not None:
            response = await api.get(f"{base}/timeline", api.partner_token, params={"cursor": cursor, "limit": 37})
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= 37 and page["total"] == 161
            seen += [e["event_id"] for e in page["items"]]
            cursor = page["next"]
        assert seen == expected  # none lost, none repeated, in the detail's order
        assert await walk(api, f"{base}/timeline", limit=100, key="event_id") == expected  # from the start

        csv_page = await api.get(f"{base}/timeline", params={"format": "csv", "limit": 10})
        assert csv_page.headers["x-crm-total"] == "161" and csv_page.headers["x-crm-next-cursor"]
        assert [r["event_id"] for r in csv.DictReader(io.StringIO(csv_page.text))] == expected[:10]
        # The CSV of the detail is still the whole timeline, streamed.
        whole = await api.get(base, api.partner_token, params={"format": "csv"})
        assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(whole.text)))
        assert [r["event_id"] for r in rows] == expected
        assert json.loads(rows[-1]["payload"])["note"].endswith(LONG_NOTE)
        assert (await api.get("/v1/partners/tehnopol/smes/nope", params={"format": "csv"})).status_code == 404

        # Partner isolation: another partner's SME is not found under one's own partner, forbidden under its.
        assert (await api.get("/v1/partners/tehnopol/smes/si-busy/timeline", api.partner_token)).status_code == 404
        assert (await api.get("/v1/partners/sisp/smes/si-busy/timeline", api.partner_token)).status_code == 403
        theirs = await api.get("/v1/partners/tehnopol/smes/ee-busy/timeline", api.other_partner_token)
        assert theirs.status_code == 403
        assert (await api.get("/v1/partners/sisp/smes/si-busy/timeline")).json()["total"] == 3  # an analyst
        missing = await api.get("/v1/partners/tehnopol/smes/nope/timeline", api.partner_token)
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]

        bad = {
            "cursor=not-a-cursor": (400, "cursor"),
            "cursor=WyJ4Il0": (400, "cursor"),  # ["x"]: wrong arity
            "cursor=WyJ4IiwieSJd": (400, "cursor"),  # ["x","y"]: not a timestamp
            "cursor=WyIyMDIwLTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwieSJd": (400, "cursor"),  # not an event id
            "cursor=WyI5OTk5LTEyLTMxVDIzOjU5OjU5LTAxOjAwIiwieSJd": (400, "cursor"),  # past UTC's range
            "limit=0": (422, "limit"),
            "limit=1001": (422, "limit"),
            "limit=many": (422, "limit"),
        }
        for query, (code, field) in bad.items():
            response = await api.get(f"{base}/timeline?{query}", api.partner_token)
            assert response.status_code == code, (query, response.text)
            assert field in response.json()["detail"], (query, response.text)


async def test_bad_parameters_are_4xx_with_a_message(isolated: Settings) -> None:
    await seed_small(isolated)
    async with running_query_api(isolated) as api:
        bad = {
            "/v1/programme/kpis?as_of=yesterday": 422,
            "/v1/programme/kpis?as_of=2020-13-45": 422,
            "/v1/programme/kpis?as_of=2020-12-31T10:00:00": 422,  # no time zone
            "/v1/partners/tehnopol/funnel?as_of=31.12.2020": 422,
            "/v1/partners/tehnopol/smes?cursor=not-a-cursor": 400,
            "/v1/partners/tehnopol/smes?cursor=WzEsMiwzXQ": 400,  # [1,2,3]: wrong arity
            "/v1/partners/tehnopol/agreements?cursor=WyJ4IiwieSIsInoiXQ": 400,  # not a timestamp
            "/v1/partners/tehnopol/alerts?cursor=WyJ4Il0": 400,
            # Finding 7 of issue 13: out of range, these answered 500 or a 503 "retry later".
            "/v1/programme/kpis?as_of=9999-12-31T23:59:59-01:00": 422,
            "/v1/partners/tehnopol/funnel?as_of=0001-01-01T00:30:00%2B01:00": 422,
            "/v1/partners/tehnopol/agreements?cursor=WyI5OTk5LTEyLTMxVDIzOjU5OjU5LTAxOjAwIiwicyIsImEiXQ": 400,
            "/v1/partners/tehnopol/alerts?cursor=WzkyMjMzNzIwMzY4NTQ3NzU4MDhd": 400,  # offset 2**63
            "/v1/partners/tehnopol/pilots?status=stuck": 422,
            "/v1/partners/tehnopol/pilots?limit=0": 422,
            "/v1/partners/tehnopol/pilots?limit=1001": 422,
            "/v1/partners/tehnopol/pilots?limit=ten": 422,
            "/v1/partners/tehnopol/pilots?market=cn": 422,
            "/v1/partners/tehnopol/smes?stage=famous": 422,
            "/v1/partners/tehnopol/smes?withdrawn=perhaps": 422,
            "/v1/partners/tehnopol/smes?format=yaml": 422,
            "/v1/partners/tehnopol/smes?format=json&all=true": 422,  # a whole list is an export
            "/v1/partners/Tehnopol/smes": 422,
        }
        for path, expected in bad.items():
            response = await api.get(path)
            assert response.status_code == expected, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["detail"], path
        # SQL injection in every parameter of every endpoint: test_security.py.


async def test_status_and_every_response_say_how_current_the_data_is(isolated: Settings) -> None:
    async with running_query_api(isolated) as api:
        empty = (await api.get("/v1/status")).json()
        assert empty["newest_event_at"] is None and empty["projector_lag"] == 0
    await seed_small(isolated)
    async with running_query_api(isolated) as api:
        status = await api.get("/v1/status")
        assert status.json()["newest_event_at"] == "2020-05-11T09:00:00Z"
        assert status.json()["last_applied_at"] is not None
        assert status.headers["x-crm-newest-event-at"] == "2020-05-11T09:00:00Z"
        page = await api.get("/v1/partners/tehnopol/pilots")
        assert page.json()["freshness"]["newest_event_at"] == "2020-05-11T09:00:00Z"
        assert page.headers["x-crm-projector-lag"] == "0"


async def test_the_dashboard_is_served_from_the_service_itself(isolated: Settings) -> None:
    async with running_query_api(isolated) as api:
        page = await api.client.get("/")
        assert page.status_code == 200 and '<script src="/dashboard/dashboard.js">' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "http" not in page.text.replace("http-equiv", "")  # nothing from elsewhere
        assert (await api.client.get("/dashboard/dashboard.js")).headers["content-type"].startswith("text/javascript")
        assert (await api.client.get("/dashboard/secrets.txt")).status_code == 404


async def test_a_partner_sees_how_current_its_own_data_is_and_nothing_of_the_others(isolated: Settings) -> None:
    # Finding 8 of issue 13: the programme-wide newest event told every partner when others were active.
    ours = decode_event(json.dumps(envelope("SMESelected", occurred_at="2020-01-01T00:00:00Z")))
    theirs = decode_event(
        json.dumps(envelope("SMESelected", partner_id="sisp", sme_id="si-1", occurred_at="2021-06-01T00:00:00Z"))
    )
    await load_into_read_models(isolated, [ours, theirs], [])
    async with running_query_api(isolated) as api:
        partner = await api.get("/v1/partners/tehnopol/smes", api.partner_token)
        assert partner.headers["x-crm-newest-event-at"] == "2020-01-01T00:00:00Z"
        assert "x-crm-projector-lag" not in partner.headers
        assert partner.json()["freshness"]["newest_event_at"] == "2020-01-01T00:00:00Z"
        assert (await api.get("/v1/status", api.partner_token)).json()["newest_event_at"] == "2020-01-01T00:00:00Z"
        analyst = await api.get("/v1/partners/tehnopol/smes")
        assert analyst.headers["x-crm-newest-event-at"] == "2021-06-01T00:00:00Z"
        assert "x-crm-projector-lag" in analyst.headers
        health = await api.client.get("/health")
        assert not [name for name in health.headers if name.startswith("x-crm-")], health.headers
