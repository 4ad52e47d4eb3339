"""Reading export files: columns, line numbers, deterministic event ids."""

from pathlib import Path

import pytest

from crm.gateway.ingestion import Limits
from crm.importer.rows import UnreadableFile, event_id_for, read_rows
from crm.importer.send import check_rows
from crm.programmes.membership import Memberships

LIMITS = Limits(max_body_bytes=1 << 20, max_events=1000, max_text_length=4000)
CSV = """\
event_type,occurred_at,sme_id,name,country,sector,target_markets,pilot_id,market,counterpart,hours,training
SMESelected,2019-09-02T09:00:00Z,ee-1,SmartLight OÜ,EE,lighting,CN;VN,,,,,
PilotOpened,2020-10-05T09:00:00+02:00,ee-1,,,,,p-1,CN,Huangpu,,
TrainingCompleted,2019-11-14T15:00:00Z,ee-1,,,,,,,,12.5,Export readiness
"""


def test_csv_rows_become_envelopes_with_derived_ids(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(CSV)

    rows, problems = read_rows(path, "tehnopol")

    assert problems == [] and check_rows(rows, LIMITS, None) == []
    assert [r.line for r in rows] == [2, 3, 4]
    assert rows[0].envelope["payload"] == {
        "name": "SmartLight OÜ",
        "country": "EE",
        "sector": "lighting",
        "target_markets": ["CN", "VN"],
    }
    assert rows[2].envelope["payload"] == {"hours": 12.5, "training": "Export readiness"}
    again, _ = read_rows(path, "tehnopol")
    assert [r.envelope["event_id"] for r in rows] == [r.envelope["event_id"] for r in again]
    assert len({r.envelope["event_id"] for r in rows}) == 3
    other, _ = read_rows(path, "sisp")
    assert rows[0].envelope["event_id"] != other[0].envelope["event_id"]


def test_the_id_depends_on_the_content_not_the_position() -> None:
    row = {"partner_id": "p", "event_type": "SMEWithdrawn", "occurred_at": "2020-01-01T00:00:00Z", "sme_id": "s"}
    assert event_id_for({**row, "payload": {}}) == event_id_for({"payload": {}, **row})
    assert event_id_for({**row, "payload": {}}) != event_id_for({**row, "payload": {"reason": "x"}})


def test_bad_rows_are_reported_with_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(
        CSV
        + "PilotOpened,2020-10-05T09:00:00,ee-1,,,,,p-2,CN,Huangpu,,\n"
        + "PilotOpened,2020-10-05T09:00:00Z,ee-1,,,,,p-3,XX,Huangpu,,\n"
        + "TrainingCompleted,2019-11-14T15:00:00Z,ee-1,,,,,,,,many,Export\n"
    )
    rows, problems = read_rows(path, "tehnopol")
    problems += check_rows(rows, LIMITS, None)
    located = sorted((p.line, p.field) for p in problems)
    assert located == [(5, "occurred_at"), (6, "payload.market"), (7, "payload.hours")]


def test_jsonl_lines_and_foreign_partner(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(
        '{"event_type":"SMEWithdrawn","occurred_at":"2021-01-01T00:00:00Z","sme_id":"a","payload":{}}\n'
        "\n"
        '{"event_type":"SMEWithdrawn","occurred_at":"2021-01-01T00:00:00Z","sme_id":"a","payload":{},'
        '"partner_id":"sisp"}\n'
        "not json\n"
    )
    rows, problems = read_rows(path, "tehnopol")
    assert [r.line for r in rows] == [1]
    assert [(p.line, p.field) for p in problems] == [(3, "partner_id"), (4, "$")]


def test_unknown_columns_refuse_the_file(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text("event_type,occurred_at,sme_id,colour\n")
    with pytest.raises(UnreadableFile, match="colour"):
        read_rows(path, "tehnopol")


def test_rows_of_an_unknown_programme_or_one_the_partner_is_not_in_are_located(tmp_path: Path) -> None:
    def line(programme: str | None) -> str:
        named = "" if programme is None else f',"schema_version":2,"programme_id":"{programme}"'
        return (
            f'{{"event_type":"SMEWithdrawn","occurred_at":"2021-01-01T00:00:00Z","sme_id":"a","payload":{{}}{named}}}'
        )

    path = tmp_path / "history.jsonl"
    path.write_text("\n".join([line(None), line("prog-a"), line("prog-b"), line("nope"), line("default")]) + "\n")
    rows, problems = read_rows(path, "tehnopol")
    assert problems == []
    memberships = Memberships({"prog-a": frozenset({"tehnopol"}), "prog-b": frozenset({"sisp"})}, "default")

    located = [(p.line, p.field, p.message) for p in check_rows(rows, LIMITS, memberships)]

    assert sorted(located) == [
        (3, "programme_id", "partner 'tehnopol' is not a partner of programme 'prog-b'"),
        (4, "programme_id", "unknown programme 'nope': no programme of that id is defined"),
    ]
    # Without the programmes (`crm import --check` with no database) only the contract is checked.
    assert check_rows(rows, LIMITS, None) == []
