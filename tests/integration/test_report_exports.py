"""`crm report export` on the real PostgreSQL, with the 4SmartGrowth replay and its programme file:
each format of a frozen report is the same bytes on every export, JSON is the stored bytes
themselves, and the figures in the workbook are the frozen ones."""

import io
from pathlib import Path

import openpyxl
import orjson
import pytest

from crm.db.engine import create_engine
from crm.reports.exports import FORMATS
from crm.reports.reading import report_body
from crm.reports.store import ReportStore
from crm.settings import Settings
from tests.integration.query.test_programme_indicators import load
from tests.support.cli import run_crm

pytestmark = pytest.mark.infra

PROGRAMME = "4smartgrowth"
LAST = 6


def export(settings: Settings, path: Path, output_format: str, *extra: str) -> bytes:
    done = run_crm(
        settings, "report", "export", "--programme", PROGRAMME, "--period", str(LAST), "--format", output_format,
        "-o", str(path), *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"wrote {path}" in done.stdout
    return path.read_bytes()


async def test_every_format_of_a_frozen_report_is_the_same_bytes_every_time(isolated: Settings, tmp_path: Path) -> None:
    await load(isolated)
    engine = create_engine(isolated.database_url, pool_size=1)
    try:
        for period in range(1, LAST + 1):
            await ReportStore(engine).freeze(PROGRAMME, period, "test")
        async with engine.connect() as connection:
            stored = (await report_body(connection, PROGRAMME, LAST)).body
    finally:
        await engine.dispose()
    document = orjson.loads(stored)
    assert document["report"]["status"] == "submitted"

    exported = {}
    for name, found in FORMATS.items():
        first = export(isolated, tmp_path / f"first.{found.suffix}", name)
        again = export(isolated, tmp_path / f"again.{found.suffix}", name)
        assert first == again, f"{name}: two exports of the frozen report differ"
        exported[name] = first

    assert exported["json"] == stored  # the stored bytes themselves, not a re-encoding
    book = openpyxl.load_workbook(io.BytesIO(exported["xlsx"]))
    header, *rows = [list(row) for row in book["Indicators"].iter_rows(values_only=True)]
    in_book = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    for indicator in document["indicators"]:
        assert in_book[indicator["code"]]["Cumulative"] == indicator["cumulative"]
        assert in_book[indicator["code"]]["This period"] == indicator["this_period"]
    assert len([row for row in book["Progress"].iter_rows(min_row=3, values_only=True) if row[0]]) == LAST
    page = exported["html"].decode()
    assert page.count("<svg") == len(document["indicators"]) and "Västerås Science Park AB" in page
    assert exported["pdf"].startswith(b"%PDF-") and exported["csv"].decode("utf-8-sig").startswith("Summary")

    own = export(isolated, tmp_path / "tehnopol.html", "html", "--partner", "tehnopol").decode()
    assert "tehnopol" in own
    for other in ("sisp", "business-tampere", "turku-science-park", "vasteras-science-park", "Västerås"):
        assert other not in own, other
