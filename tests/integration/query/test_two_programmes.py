"""Two programmes with an overlapping partner in one deployment, on the real PostgreSQL: figures,
evidence and reports never mix, and a partner never sees another partner's slice (API, CSV, XLSX,
HTML)."""

import io
import zipfile
from datetime import UTC, date, datetime

import pytest

from crm.contract.events import DomainEvent
from crm.db.engine import create_engine
from crm.programmes.definition import Indicator, Measure, Partner, Period, Programme
from crm.programmes.measures import MEASURES
from crm.programmes.store import ProgrammeStore
from crm.reports.store import ReportStore
from crm.settings import Settings
from tests.support.gateway import create_token
from tests.support.indicator_reference import programme_history, reference_items
from tests.support.query import load_into_read_models, running_query_api

pytestmark = pytest.mark.infra

# sisp takes part in both; tehnopol only in A, business-tampere only in B.
MEMBERS = {"prog-a": ["tehnopol", "sisp"], "prog-b": ["sisp", "business-tampere"]}
END = datetime(2021, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)  # period 2's last instant


def definition(programme_id: str) -> Programme:
    partners = MEMBERS[programme_id]
    return Programme(
        id=programme_id,
        name=programme_id,
        funding_programme="F",
        objective="O",
        start=date(2020, 1, 1),
        end=date(2021, 12, 31),
        partners=[
            Partner(id=p, legal_name=p, short_name=p, country="EE", role="lead" if i == 0 else "partner")
            for i, p in enumerate(partners)
        ],
        periods=[
            Period(number=1, start=date(2020, 1, 1), end=date(2020, 12, 31), report_deadline=date(2021, 3, 31)),
            Period(number=2, start=date(2021, 1, 1), end=date(2021, 12, 31), report_deadline=date(2022, 3, 31)),
        ],
        indicators=[
            Indicator(code=f"I-{n}", name=name, unit="u", measure=Measure(name), target=5)
            for n, name in enumerate(sorted(MEASURES))
        ],
    )


def events_of_members() -> list[DomainEvent]:
    """A history over both programmes, each SME's events only when its partner is in its programme
    (the gateway refuses the others), with SME ids that say whose they are."""
    events = programme_history(seed=12, smes=90, programmes=list(MEMBERS))
    programme_of = {}
    for event in sorted(events, key=lambda e: e.occurred_at):
        if event.event_type == "SMESelected":
            programme_of[(event.partner_id, event.sme_id)] = event.programme_id
    return [
        e.model_copy(update={"sme_id": f"{e.partner_id}-{e.sme_id}"})
        for e in events
        if e.partner_id in MEMBERS.get(programme_of.get((e.partner_id, e.sme_id), ""), [])
    ]


def _xlsx_text(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return "".join(archive.read(name).decode() for name in archive.namelist() if name.endswith(".xml"))


async def test_two_programmes_never_mix_and_partners_see_only_their_own_slice(isolated: Settings) -> None:
    events = events_of_members()
    await load_into_read_models(isolated, events, [])
    engine = create_engine(isolated.database_url, pool_size=1)
    try:
        for programme_id in MEMBERS:
            await ProgrammeStore(engine).apply(definition(programme_id), "test")
            await ReportStore(engine).freeze(programme_id, 1, "analyst")
    finally:
        await engine.dispose()
    _, tampere = await create_token(isolated, "business-tampere")

    async with running_query_api(isolated) as api:
        tokens = {"tehnopol": api.partner_token, "sisp": api.other_partner_token, "business-tampere": tampere}
        for programme_id, members in MEMBERS.items():
            base = f"/v1/programmes/{programme_id}"
            # Figures: each indicator's value is the independent fold's of this programme's events.
            values = (await api.get(f"{base}/indicators", params={"period": 2})).json()
            for indicator in values["indicators"]:
                expected = reference_items(events, programme_id, indicator["measure"])
                end = {i for i in expected if i[3] <= END and (i[4] is None or i[4] > END)}
                assert indicator["periods"][0]["value"] == len({i[1] for i in end}), (programme_id, indicator["code"])
                assert set(indicator["periods"][0]["by_partner"]) == set(members)
                evidence = (await api.get(f"{base}/indicators/{indicator['code']}/evidence")).json()
                assert {item["partner_id"] for item in evidence["items"]} <= set(members)

            # The report: only this programme's partners and SMEs.
            report = (await api.get(f"{base}/reports/1")).json()
            assert report["report"]["status"] == "submitted"
            rows = [*report["agreements_signed"], *report["pilots_in_discussion"]]
            assert rows and {r["partner_id"] for r in rows} <= set(members)
            assert all(r["sme_id"].startswith(r["partner_id"] + "-") for r in rows)
            assert {p["id"] for p in report["partners"]} == set(members)

            # Each partner of it reads its slice in every format; nothing of the other partner.
            for partner in members:
                others = [p for p in tokens if p != partner]
                answers = {"json": await api.get(f"{base}/reports/1", tokens[partner])}
                for name in ("csv", "xlsx", "html"):
                    answers[name] = await api.get(f"{base}/reports/1/export", tokens[partner], params={"format": name})
                for name, answer in answers.items():
                    assert answer.status_code == 200, (programme_id, partner, name, answer.text[:200])
                    text = _xlsx_text(answer.content) if name == "xlsx" else answer.text
                    assert partner in text, (programme_id, partner, name)
                    leaked = [other for other in others if other in text]
                    assert leaked == [], (programme_id, partner, name)
                restated = (await api.get(f"{base}/reports/1/restatements", tokens[partner])).json()
                assert {r["partner_id"] for r in restated["restatements"]} <= {partner}

        # A partner outside a programme reads nothing of it.
        for programme_id, outsider in (("prog-a", "business-tampere"), ("prog-b", "tehnopol")):
            for path in ("indicators", "reports", "reports/1", "reports/1/export?format=csv", "reports/1/restatements"):
                answer = await api.get(f"/v1/programmes/{programme_id}/{path}", tokens[outsider])
                assert answer.status_code == 403, (programme_id, outsider, path)
