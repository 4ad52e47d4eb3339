"""Funder reports over HTTP on the real PostgreSQL, with the 4SmartGrowth replay and programme file:
who may freeze, refusals, byte-identical frozen reports, restatements after late events, a
definition change, re-opening and a second revision, and each partner's slice."""

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from crm.contract.decoding import decode_event
from crm.contract.events import DomainEvent
from crm.contract.upcasting import UpcastContext
from crm.db.engine import create_engine
from crm.demo.scenario import default_scenario_path, load_scenario
from crm.programmes.loading import parse_programme
from crm.programmes.store import ProgrammeStore
from crm.reports.store import ReportRefused, ReportStore
from crm.settings import Settings
from tests.support.gateway import create_token
from tests.support.query import load_into_read_models, running_query_api

pytestmark = pytest.mark.infra

PROGRAMME = Path(__file__).resolve().parents[3] / "scenario" / "4smartgrowth" / "programme.toml"
REPORTS = "/v1/programmes/4smartgrowth/reports"
PERIOD_2_END = "2020-03-31T23:59:59.999999+00:00"


def scenario_events() -> list[DomainEvent]:
    scenario = load_scenario(default_scenario_path())
    context = UpcastContext("4smartgrowth")
    return [
        decode_event(line, context)
        for partner_id, feed in scenario.feeds.items()
        for number, line in feed.numbered()
        if scenario.refused(partner_id, number) is None
    ]


async def _apply(settings: Settings, text: str) -> None:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        await ProgrammeStore(engine).apply(parse_programme(text, PROGRAMME), "test")
    finally:
        await engine.dispose()


def by_code(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["code"]: i for i in document["indicators"]}


async def test_a_report_is_frozen_by_the_lead_restated_after_late_events_and_resubmitted(isolated: Settings) -> None:
    events = scenario_events()
    period_2 = [e for e in events if date(2019, 10, 1) <= e.occurred_at.date() <= date(2020, 3, 31)]
    late = random.Random(7).sample(period_2, 12)
    late_ids = {e.event_id for e in late}
    await load_into_read_models(isolated, [e for e in events if e.event_id not in late_ids], [])
    await _apply(isolated, PROGRAMME.read_text())
    _, turku = await create_token(isolated, "turku-science-park")

    async with running_query_api(isolated) as api:
        sisp, tehnopol, analyst = api.other_partner_token, api.partner_token, api.analyst_token  # sisp leads

        async def post(path: str, token: str, body: Any = None) -> Any:
            return await api.client.post(path, headers=api.auth(token), json=body)

        assert (await post(f"{REPORTS}/2/freeze", tehnopol)).status_code == 403  # a partner, not the lead
        assert (await post(f"{REPORTS}/9/freeze", sisp)).status_code == 404
        draft = await api.get(f"{REPORTS}/2")
        assert draft.json()["report"]["status"] == "draft"

        frozen = await post(f"{REPORTS}/2/freeze", sisp)
        assert frozen.status_code == 201, frozen.text
        document = frozen.json()
        assert document["report"] | {"frozen_at": None} == {
            "status": "submitted",
            "revision": 1,
            "frozen_at": None,
            "frozen_by": document["report"]["frozen_by"],
        }
        assert document["report"]["frozen_by"].startswith("sisp ")
        assert (await api.get(f"{REPORTS}/2")).content == frozen.content  # the stored bytes
        again = await post(f"{REPORTS}/2/freeze", analyst)
        assert again.status_code == 409 and "submitted already" in again.json()["detail"]
        exported = await api.get(f"{REPORTS}/2/export", params={"format": "json"})
        assert exported.content == frozen.content and "attachment" in exported.headers["content-disposition"]

        # The frozen figures are those of the events applied by then, per partner too.
        figures = by_code(document)
        assert figures["OUT-2"]["cumulative"] == sum(p["cumulative"] for p in figures["OUT-2"]["by_partner"].values())
        assert figures["OUT-2"]["previously_reported"] is None  # period 1 was never submitted

        # A partner's slice: its own figures and rows, nothing of the other partners'.
        slice_ = await api.get(f"{REPORTS}/2", tehnopol)
        own = slice_.json()
        assert own["slice"] == {"partner_id": "tehnopol"}
        assert set(by_code(own)["OUT-2"]["by_partner"]) == {"tehnopol"}
        assert by_code(own)["OUT-2"]["cumulative"] == figures["OUT-2"]["by_partner"]["tehnopol"]["cumulative"]
        others = {"business-tampere", "turku-science-park", "vasteras-science-park"}
        assert not any(f'"{other}' in slice_.text for other in others)
        assert (await api.get(f"{REPORTS}/2", turku)).json()["slice"] == {"partner_id": "turku-science-park"}

        # The late events arrive: the report does not change; its restatements say what did.
        await load_into_read_models(isolated, late, [])
        assert (await api.get(f"{REPORTS}/2")).content == frozen.content
        restated = (await api.get(f"{REPORTS}/2/restatements")).json()
        assert restated["revision"] == 1 and restated["restatements"], "12 late events of period 2 changed nothing?"
        for change in restated["restatements"]:
            assert change["difference"] == change["today"] - change["frozen"] != 0
            assert change["events"] and {e["event_id"] for e in change["events"]} <= {str(i) for i in late_ids}
            assert all(e["occurred_at"] <= PERIOD_2_END for e in change["events"])
        mine = (await api.get(f"{REPORTS}/2/restatements", tehnopol)).json()["restatements"]
        assert {c["partner_id"] for c in mine} <= {"tehnopol"}
        assert mine == [c for c in restated["restatements"] if c["partner_id"] == "tehnopol"]

        # A new definition never alters the frozen report; the next draft shows it.
        changed = PROGRAMME.read_text().replace("target = 30", "target = 32", 1)
        assert changed != PROGRAMME.read_text()
        await _apply(isolated, changed)
        assert (await api.get(f"{REPORTS}/2")).content == frozen.content
        assert by_code((await api.get(f"{REPORTS}/3")).json())["OUT-1"]["target"] == 32
        assert (await api.get(f"{REPORTS}/2/restatements")).json()["programme_version"] == 1

        # Re-open (the lead, with a note), then submit revision 2: under the new definition, with
        # the late events; revision 1 stays readable byte for byte.
        assert (await post(f"{REPORTS}/2/reopen", tehnopol)).status_code == 403
        reopened = await post(f"{REPORTS}/2/reopen", sisp, {"note": "late meetings of Q1 2020"})
        assert reopened.status_code == 200 and reopened.json()["status"] == "reopened"
        assert (await post(f"{REPORTS}/2/reopen", sisp)).status_code == 409  # not submitted now
        assert (await api.get(f"{REPORTS}/2")).json()["report"]["status"] == "reopened"
        second = await post(f"{REPORTS}/2/freeze", analyst)
        assert second.status_code == 201 and second.json()["report"]["revision"] == 2
        assert by_code(second.json())["OUT-1"]["target"] == 32
        assert (await api.get(f"{REPORTS}/2", params={"revision": 1})).content == frozen.content
        assert (await api.get(f"{REPORTS}/2/restatements")).json()["restatements"] == []
        steps = (await api.get(REPORTS)).json()["reports"][1]["steps"]
        assert [(s["revision"], s["step"]) for s in steps] == [(1, "submitted"), (1, "reopened"), (2, "submitted")]
        assert steps[1]["note"] == "late meetings of Q1 2020" and steps[0]["by"].startswith("sisp ")

        # Period 3 is reported on top of period 2's submission.
        third = (await post(f"{REPORTS}/3/freeze", sisp)).json()
        assert by_code(third)["OUT-2"]["previously_reported"] == by_code(second.json())["OUT-2"]["cumulative"]

    # A period that has not ended cannot be frozen (today is its last day).
    engine = create_engine(isolated.database_url, pool_size=1)
    try:
        with pytest.raises(ReportRefused, match="from the day after its period ends"):
            await ReportStore(engine).freeze("4smartgrowth", 4, "test", today=date(2021, 3, 31))
    finally:
        await engine.dispose()
