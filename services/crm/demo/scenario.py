"""A programme replay kept as data (`scenario/<name>/`): what each partner sent, and what must show.

The folder holds one `<partner_id>.jsonl` per partner, each line one envelope exactly as that
partner's system POSTed it, in send order (duplicates, late events and refused ones included), and
`expected.json`, the figures the funder's report must show once every valid line went through.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXPECTED_FILE = "expected.json"


class ScenarioError(ValueError):
    """The scenario folder is incomplete or inconsistent."""


@dataclass(frozen=True, slots=True)
class InvalidLine:
    """A line the gateway must refuse (`422`), and the field its problem must name."""

    partner_id: str
    line: int  # 1-based, as in the file
    field: str


@dataclass(frozen=True, slots=True)
class PartnerFeed:
    partner_id: str
    lines: tuple[bytes, ...]  # in send order, without the line break

    def numbered(self) -> list[tuple[int, bytes]]:
        """(line number, raw envelope), numbered from 1 like an editor does."""
        return list(enumerate(self.lines, start=1))


@dataclass(frozen=True, slots=True)
class ExpectedFigures:
    kpis: dict[str, Any]  # the `GET /v1/programme/kpis` shape; zero counts left out of `*_by_*` maps
    funnels: dict[str, dict[str, Any]]  # partner_id -> the `GET /v1/partners/{id}/funnel` shape
    invalid: tuple[InvalidLine, ...]
    feed: dict[str, Any]  # lines, invalid, duplicates and distinct events, in total and per partner
    stall_threshold_days: int


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: Path
    feeds: dict[str, PartnerFeed]  # partner_id -> feed, partners in alphabetical order
    expected: ExpectedFigures

    def refused(self, partner_id: str, line: int) -> InvalidLine | None:
        """The expected refusal of that line, or None when the line must be accepted."""
        for invalid in self.expected.invalid:
            if invalid.partner_id == partner_id and invalid.line == line:
                return invalid
        return None


def default_scenario_path(name: str = "4smartgrowth") -> Path:
    """`scenario/<name>` at the top of the repository (this package is installed editable)."""
    return Path(__file__).resolve().parents[3] / "scenario" / name


def load_scenario(path: Path | str) -> Scenario:
    """Read a scenario folder; raise ScenarioError when a file is missing or they disagree."""
    folder = Path(path)
    expected_path = folder / EXPECTED_FILE
    if not expected_path.is_file():
        raise ScenarioError(f"{expected_path} is missing")
    document = json.loads(expected_path.read_text(encoding="utf-8"))
    feeds = {
        feed_path.stem: PartnerFeed(feed_path.stem, _lines_of(feed_path))
        for feed_path in sorted(folder.glob("*.jsonl"))
    }
    expected = _expected(document)
    partners = set(expected.kpis.get("partners", {}))
    if partners != set(feeds):
        raise ScenarioError(f"partner files {sorted(feeds)} differ from expected partners {sorted(partners)}")
    for invalid in expected.invalid:
        if not 1 <= invalid.line <= len(feeds[invalid.partner_id].lines):
            raise ScenarioError(f"{invalid.partner_id}.jsonl has no line {invalid.line}")
    return Scenario(document.get("scenario", folder.name), folder, feeds, expected)


def _lines_of(feed_path: Path) -> tuple[bytes, ...]:
    raw = feed_path.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ScenarioError(f"{feed_path}:{number} is blank")
    return tuple(lines)


def _expected(document: dict[str, Any]) -> ExpectedFigures:
    try:
        invalid = tuple(
            InvalidLine(entry["partner"], int(entry["line"]), entry["field"])
            for entry in document["invalid_events"]["events"]
        )
        if len(invalid) != document["invalid_events"]["count"]:
            raise ScenarioError("invalid_events.count differs from the events listed")
        return ExpectedFigures(
            kpis=document["kpis"],
            funnels=document["funnels"],
            invalid=invalid,
            feed=document["feed"],
            stall_threshold_days=int(document["stall_threshold_days"]),
        )
    except (KeyError, TypeError) as exc:
        raise ScenarioError(f"{EXPECTED_FILE} lacks {exc}") from None
