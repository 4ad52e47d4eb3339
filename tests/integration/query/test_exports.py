"""Whole lists as CSV (streamed, with or without a byte-order mark) and XLSX on the real PostgreSQL:
past the page cap, every row as the pages have it, the same filters and the same partner scoping;
Accept negotiated with q-values and `Vary: Accept`; figures tagged and answered 304."""

import csv
import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from crm.contract.decoding import decode_event
from crm.contract.events import DomainEvent
from crm.contract.upcasting import UpcastContext
from crm.db.engine import create_engine
from crm.programmes.loading import load_programme
from crm.programmes.store import ProgrammeStore
from crm.query.csv_export import safe_cell
from crm.settings import Settings
from tests.support.events import envelope
from tests.support.query import QueryApi, load_4smartgrowth, load_into_read_models, running_query_api

pytestmark = pytest.mark.infra

PAGE_CAP = 1000
SMES = PAGE_CAP + 50  # more than one page can hold
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = b"\xef\xbb\xbf"
PROGRAMME_FILE = Path(__file__).resolve().parents[3] / "scenario" / "4smartgrowth" / "programme.toml"


def name_of(i: int) -> str:
    return '=HYPERLINK("http://evil.invalid")' if i % 97 == 0 else f"Härmälä {i} Oy"


def many_pilots() -> list[DomainEvent]:
    """tehnopol: `SMES` SMEs with a pilot each (a third in VN); sisp: 3 of its own."""
    bodies = []
    for partner, count in (("tehnopol", SMES), ("sisp", 3)):
        for i in range(count):
            sme, pilot = f"{partner[:2]}-{i:05d}", f"p-{i:05d}"
            selected = {**envelope("SMESelected")["payload"], "name": name_of(i)}
            opened = {
                "pilot_id": pilot,
                "market": "VN" if i % 3 == 0 else "CN",
                "counterpart": "Da Nang",
                "title": name_of(i),
            }
            bodies += [
                envelope("SMESelected", selected, partner_id=partner, sme_id=sme, occurred_at="2020-01-10T09:00:00Z"),
                envelope("PilotOpened", opened, partner_id=partner, sme_id=sme, occurred_at="2020-03-10T09:00:00Z"),
            ]
    return [decode_event(json.dumps(body)) for body in bodies]


async def json_walk(api: QueryApi, path: str, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, page by page (the largest pages), as JSON."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": PAGE_CAP, **({"cursor": cursor} if cursor else {})}
        response = await api.get(path, token, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            assert len(items) == page["total"]
            return items


def as_cells(items: list[dict[str, Any]], columns: list[str]) -> list[dict[str, str]]:
    """What the CSV should hold for the JSON items: each value as the CSV writes it."""

    def text(value: Any) -> str:
        return "" if value is None else str(safe_cell(value))

    return [{column: text(item[column]) for column in columns} for item in items]


def csv_rows(body: bytes) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(body.decode("utf-8")))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


async def test_a_whole_list_is_every_row_of_the_pages_as_csv_with_a_bom_and_as_xlsx(isolated: Settings) -> None:
    await load_into_read_models(isolated, many_pilots(), [])
    async with running_query_api(isolated) as api:
        path = "/v1/partners/tehnopol/pilots"
        pages = await json_walk(api, path)
        assert len(pages) == SMES > PAGE_CAP

        exported = await api.get(path, params={"format": "csv", "all": "true"})
        assert exported.status_code == 200
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        assert exported.headers["content-disposition"] == 'attachment; filename="tehnopol-pilots.csv"'
        assert exported.headers["vary"] == "Accept"
        assert not exported.content.startswith(BOM)
        columns, rows = csv_rows(exported.content)
        assert rows == as_cells(pages, columns)  # every row, in the pages' order, with the pages' values
        assert rows[97]["title"] == "'" + name_of(97)  # still spreadsheet-safe

        # For Excel: the same bytes after a UTF-8 byte-order mark, "Härmälä" as UTF-8.
        for_excel = await api.get(path, params={"format": "csv", "all": "true", "bom": "true"})
        assert for_excel.content == BOM + exported.content
        assert "Härmälä 1 Oy".encode() in for_excel.content

        # A filter applies as on the pages.
        in_vn = await api.get(path, params={"format": "csv", "all": "true", "market": "VN"})
        vn_pages = await json_walk(api, path, market="VN")
        assert csv_rows(in_vn.content)[1] == as_cells(vn_pages, columns) and len(vn_pages) == 350

        workbook = await api.get(path, params={"format": "xlsx", "all": "true"})
        assert workbook.status_code == 200 and workbook.headers["content-type"] == XLSX
        assert workbook.headers["content-disposition"] == 'attachment; filename="tehnopol-pilots.xlsx"'
        sheet = openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True).worksheets[0]
        header, *cells = list(sheet.iter_rows(values_only=True))
        assert list(header) == columns
        assert len(cells) == SMES
        for row, item in zip(cells, pages, strict=True):
            got = dict(zip(columns, row, strict=True))
            assert (got["pilot_id"], got["sme_id"], got["title"], got["market"]) == (
                item["pilot_id"],
                item["sme_id"],
                item["title"],
                item["market"],
            )
            assert got["opened_at"].isoformat() + "Z" == item["opened_at"] and got["stalled"] is False

        smes = await api.get("/v1/partners/tehnopol/smes", params={"format": "csv", "all": "true", "bom": "true"})
        sme_columns, sme_rows = csv_rows(smes.content.removeprefix(BOM))
        assert sme_rows == as_cells(await json_walk(api, "/v1/partners/tehnopol/smes"), sme_columns)


async def test_a_partner_exports_its_own_rows_only(isolated: Settings) -> None:
    await load_into_read_models(isolated, many_pilots(), [])
    async with running_query_api(isolated) as api:
        for fmt in ("csv", "xlsx"):
            own = await api.get(
                "/v1/partners/tehnopol/pilots", api.partner_token, params={"format": fmt, "all": "true"}
            )
            assert own.status_code == 200
            for path in ("pilots", "smes", "agreements", "alerts", "smes/si-00000/timeline"):
                other = await api.get(
                    f"/v1/partners/sisp/{path}", api.partner_token, params={"format": fmt, "all": "true"}
                )
                assert other.status_code == 403, (path, fmt)
                problem = other.json()
                assert problem.pop("instance") == f"/v1/partners/sisp/{path}"  # the caller's own request
                assert "Härmälä" not in str(problem) and "si-0000" not in str(problem)
        _, own_rows = csv_rows(
            (
                await api.get(
                    "/v1/partners/tehnopol/pilots", api.partner_token, params={"format": "csv", "all": "true"}
                )
            ).content
        )
        assert len(own_rows) == SMES and {row["partner_id"] for row in own_rows} == {"tehnopol"}
        # sisp's token exports sisp's three, and an analyst reads them the same.
        sisp = await api.get(
            "/v1/partners/sisp/pilots", api.other_partner_token, params={"format": "csv", "all": "true"}
        )
        _, sisp_rows = csv_rows(sisp.content)
        assert [row["sme_id"] for row in sisp_rows] == ["si-00000", "si-00001", "si-00002"]
        assert (
            await api.get("/v1/partners/sisp/pilots", params={"format": "csv", "all": "true"})
        ).content == sisp.content


async def test_every_list_exports_what_its_pages_hold(isolated: Settings) -> None:
    await load_4smartgrowth(isolated)
    async with running_query_api(isolated) as api:
        base = "/v1/partners/tehnopol"
        for path, params in [
            (f"{base}/smes", {}),
            (f"{base}/smes", {"stage": "piloting"}),
            (f"{base}/pilots", {}),  # stalled ones among them: the export joins the stalls its own way
            (f"{base}/pilots", {"status": "stalled"}),
            (f"{base}/agreements", {}),
            (f"{base}/alerts", {}),
            (f"{base}/alerts", {"open": "true"}),
        ]:
            pages = await json_walk(api, path, api.partner_token, **params)
            response = await api.get(path, api.partner_token, params={**params, "format": "csv", "all": "true"})
            columns, rows = csv_rows(response.content)
            assert rows == as_cells(pages, columns) and rows, (path, params)
            if path.endswith("pilots"):
                assert any(row["stalled"] == "true" and row["idle_days"] for row in rows)
        sme_id = (await json_walk(api, f"{base}/agreements"))[0]["sme_id"]  # one with a long history
        timeline = f"{base}/smes/{sme_id}/timeline"
        events = await json_walk(api, timeline)
        assert len(events) > 5
        columns, rows = csv_rows((await api.get(timeline, params={"all": "true", "format": "csv"})).content)
        assert [(r["event_id"], json.loads(r["payload"])) for r in rows] == [
            (e["event_id"], e["payload"]) for e in events
        ]
        # From a cursor on: the rest of the list.
        first = await api.get(timeline, params={"limit": 5})
        rest = await api.get(timeline, params={"all": "true", "format": "csv", "cursor": first.json()["next"]})
        assert [r["event_id"] for r in csv_rows(rest.content)[1]] == [e["event_id"] for e in events[5:]]
        # An SME's CSV or XLSX is its whole timeline.
        sheet = await api.get(f"{base}/smes/{sme_id}", params={"format": "xlsx"})
        cells = list(openpyxl.load_workbook(io.BytesIO(sheet.content)).worksheets[0].iter_rows(values_only=True))
        assert [row[4] for row in cells[1:]] == [e["event_id"] for e in events]


async def test_accept_is_negotiated_with_q_values_and_answers_vary_on_it(isolated: Settings) -> None:
    await load_4smartgrowth(isolated)
    async with running_query_api(isolated) as api:
        smes = "/v1/partners/tehnopol/smes"

        async def chosen(accept: str, **params: str) -> tuple[int, str]:
            response = await api.get(smes, headers={"Accept": accept}, params=params)
            assert response.headers["vary"] == "Accept", accept
            return response.status_code, response.headers["content-type"]

        assert await chosen("text/csv") == (200, "text/csv; charset=utf-8")
        assert await chosen("text/*") == (200, "text/csv; charset=utf-8")
        # A CSV refused with q=0 is not a CSV (it was, while "text/csv" was looked for as text).
        assert await chosen("text/csv;q=0, */*") == (200, "application/json")
        assert await chosen("application/json;q=0.4, text/csv;q=0.6") == (200, "text/csv; charset=utf-8")
        assert await chosen(f"text/csv;q=0.5, {XLSX}") == (200, XLSX)
        assert await chosen("*/*", all="true") == (200, "text/csv; charset=utf-8")  # a whole list: no JSON
        refused = await api.get(smes, headers={"Accept": "image/png, text/html;q=0.5"})
        assert refused.status_code == 406
        assert "text/csv" in refused.json()["detail"] and refused.headers["vary"] == "Accept"
        assert (await api.get(smes, headers={"Accept": "application/json"}, params={"all": "true"})).status_code == 406
        # `format` overrides Accept; the figures negotiate too.
        forced = await api.get(smes, headers={"Accept": "image/png"}, params={"format": "csv"})
        assert forced.status_code == 200 and forced.headers["content-type"].startswith("text/csv")
        kpis = await api.get("/v1/programme/kpis", headers={"Accept": "text/csv;q=0.9, application/json;q=0.1"})
        assert kpis.headers["content-type"].startswith("text/csv") and kpis.headers["vary"] == "Accept"
        assert (await api.get("/v1/programme/kpis", headers={"Accept": "image/*"})).status_code == 406


async def test_figures_carry_an_etag_and_answer_304_until_they_change(isolated: Settings) -> None:
    await load_4smartgrowth(isolated, programme="4smartgrowth")
    engine = create_engine(isolated.database_url, pool_size=1)
    try:
        await ProgrammeStore(engine).apply(load_programme(PROGRAMME_FILE), "test")
    finally:
        await engine.dispose()
    figures = [
        ("/v1/programme/kpis", None),
        ("/v1/programme/kpis?format=csv", None),
        ("/v1/programme/kpis?as_of=2020-12-31", None),
        ("/v1/partners/tehnopol/funnel", "partner"),
        ("/v1/partners/tehnopol/funnel?format=csv&bom=true", "partner"),
        ("/v1/programmes/4smartgrowth/indicators", None),
        ("/v1/programmes/4smartgrowth/indicators?period=2", "partner"),
    ]
    async with running_query_api(isolated) as api:
        tags: dict[str, str] = {}
        for path, who in figures:
            token = api.partner_token if who else None
            first = await api.get(path, token)
            tag = first.headers["etag"]
            assert first.status_code == 200 and tag.startswith('W/"'), path
            assert first.headers["cache-control"] == "private, no-cache"
            tags[path] = tag
            again = await api.get(path, token, headers={"If-None-Match": tag})
            assert again.status_code == 304 and again.content == b"", path
            assert again.headers["etag"] == tag and again.headers["vary"] == "Accept"
            assert (await api.get(path, token, headers={"If-None-Match": f'"other", {tag}'})).status_code == 304
            assert (await api.get(path, token, headers={"If-None-Match": '"other"'})).status_code == 200
        assert len(set(tags.values())) == len(figures)  # each query and format its own tag

        # New events change the figures: the old tags get the new figures, and a new tag.
        sme = {**envelope("SMESelected")["payload"], "name": "Late Oy"}
        late = envelope("SMESelected", sme, sme_id="ee-late", occurred_at="2021-06-01T09:00:00Z")
        await load_into_read_models(isolated, [decode_event(json.dumps(late), UpcastContext("4smartgrowth"))], [])
        for path, who in figures:
            token = api.partner_token if who else None
            response = await api.get(path, token, headers={"If-None-Match": tags[path]})
            if "as_of=2020" in path or "period=2" in path:  # a past cut: the same figures, still current
                assert response.status_code == 304, path
            else:
                assert response.status_code == 200 and response.headers["etag"] != tags[path], path
