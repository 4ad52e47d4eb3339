"""A report document as the tables every export shows (docs/reports.md, "Exports").

One `Section` per part of the document: the summary (programme, period, status, who froze it),
the partners, the indicators, their figures per partner, the agreements signed, the pilots in
discussion, the shared companies and, from the `series`, each period's progress. The CSV, XLSX,
HTML and PDF renderers all lay out these same tables, so they show the same figures.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

Cell = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[list[Cell]]


@dataclass(frozen=True, slots=True)
class Point:
    """One period of an indicator's chart."""

    period: int
    end: str
    status: str
    cumulative: int | float | None
    target: int | float | None
    milestone: int | float | None


@dataclass(frozen=True, slots=True)
class Chart:
    code: str
    name: str
    unit: str
    points: list[Point]


def summary(document: dict[str, Any]) -> list[tuple[str, Cell]]:
    programme, period, report = document["programme"], document["period"], document["report"]
    rows: list[tuple[str, Cell]] = [
        ("Programme", programme["name"]),
        ("Programme id", programme["id"]),
        ("Funding programme", programme["funding_programme"]),
        ("Objective", programme["objective"]),
        ("Programme version", programme["version"]),
        ("Period", period["number"]),
        ("Period start", period["start"]),
        ("Period end", period["end"]),
        ("Report deadline", period["report_deadline"]),
        ("Status", report["status"]),
        ("Revision", report["revision"]),
        ("Frozen at", report["frozen_at"]),
        ("Frozen by", report["frozen_by"]),
    ]
    if report.get("reopened_revision") is not None:
        rows.append(("Re-opened revision", report["reopened_revision"]))
    if document.get("slice"):
        rows.append(("Partner", document["slice"]["partner_id"]))
    return rows


def sections(document: dict[str, Any], series: list[dict[str, Any]]) -> list[Section]:
    """Every table of the report, in the order the exports show them."""
    names = {i["code"]: i["name"] for i in document["indicators"]}
    return [
        Section("summary", "Summary", ("Field", "Value"), [[field, value] for field, value in summary(document)]),
        Section(
            "partners",
            "Partners",
            ("Partner", "Legal name", "Short name", "Country", "Role"),
            [[p["id"], p["legal_name"], p["short_name"], p["country"], p["role"]] for p in document["partners"]],
        ),
        Section(
            "indicators",
            "Indicators",
            (
                "Code",
                "Indicator",
                "Unit",
                "Measure",
                "Agreement type",
                "Market",
                "Mode",
                "Target",
                "Milestone",
                "Previously reported",
                "This period",
                "Cumulative",
            ),
            [
                [
                    i["code"],
                    i["name"],
                    i["unit"],
                    i["measure"],
                    i["agreement_type"],
                    i["market"],
                    i["mode"],
                    i["target"],
                    i["milestone"],
                    i["previously_reported"],
                    i["this_period"],
                    i["cumulative"],
                ]
                for i in document["indicators"]
            ],
        ),
        Section(
            "by_partner",
            "By partner",
            ("Code", "Indicator", "Partner", "Target", "Previously reported", "This period", "Cumulative"),
            [
                [
                    i["code"],
                    i["name"],
                    partner,
                    own["target"],
                    own["previously_reported"],
                    own["this_period"],
                    own["cumulative"],
                ]
                for i in document["indicators"]
                for partner, own in sorted(i["by_partner"].items())
            ],
        ),
        Section(
            "agreements",
            "Agreements signed",
            ("Partner", "SME", "Agreement", "Type", "Market", "Counterpart", "Signed at", "Event"),
            [
                [
                    a["partner_id"],
                    a["sme_id"],
                    a["agreement_id"],
                    a["agreement_type"],
                    a["market"],
                    a["counterpart"],
                    a["signed_at"],
                    a["event_id"],
                ]
                for a in document["agreements_signed"]
            ],
        ),
        Section(
            "pilots",
            "Pilots in discussion",
            ("Partner", "SME", "Pilot", "Market", "Counterpart", "Title", "Opened at", "Stalled", "Event"),
            [
                [
                    p["partner_id"],
                    p["sme_id"],
                    p["pilot_id"],
                    p["market"],
                    p["counterpart"],
                    p["title"],
                    p["opened_at"],
                    p["stalled"],
                    p["event_id"],
                ]
                for p in document["pilots_in_discussion"]
            ],
        ),
        Section(
            "shared_companies",
            "Shared companies",
            ("Company", "Partners", "SMEs"),
            [
                [c["company"], "; ".join(c["partners"]), "; ".join(f"{partner}/{sme}" for partner, sme in c["smes"])]
                for c in document["shared_companies"]
            ],
        ),
        Section(
            "progress",
            "Progress by period",
            ("Period", "Period end", "Status", "Code", "Indicator", "Cumulative", "Target", "Milestone"),
            [
                [p.period, p.end, p.status, chart.code, names[chart.code], p.cumulative, p.target, p.milestone]
                for chart in charts(document, series)
                for p in chart.points
            ],
        ),
    ]


def charts(document: dict[str, Any], series: list[dict[str, Any]]) -> list[Chart]:
    """Per indicator of the document, its cumulative value, target and milestone at the end of each
    period of `series` (a period whose report did not have the indicator yet shows none)."""
    found = []
    for indicator in document["indicators"]:
        points = []
        for period in series:
            figures = period["indicators"].get(indicator["code"], {})
            points.append(
                Point(
                    period["period"],
                    period["end"],
                    period["status"],
                    figures.get("cumulative"),
                    figures.get("target"),
                    figures.get("milestone"),
                )
            )
        found.append(Chart(indicator["code"], indicator["name"], indicator["unit"], points))
    return found


def created_at(document: dict[str, Any]) -> datetime:
    """The creation date an export states: when the report was frozen; for a draft, the end of its
    period (never "now": the same document gives the same bytes)."""
    frozen_at = document["report"].get("frozen_at")
    if frozen_at:
        return datetime.fromisoformat(frozen_at).astimezone(UTC).replace(microsecond=0)
    return datetime.combine(date.fromisoformat(document["period"]["end"]), time(), tzinfo=UTC)


def number_text(value: int | float | None) -> str:
    """A figure as people read it: 30, 2.5, or an empty string for none."""
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(int(value))


def cell_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number_text(value)
    return value


def title_of(document: dict[str, Any]) -> str:
    period = document["period"]
    whose = f", {document['slice']['partner_id']}" if document.get("slice") else ""
    return f"{document['programme']['name']}: report of period {period['number']}{whose}"


def nice_ceiling(value: float) -> float:
    """The axis' top: 1, 2, 2.5 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 < value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power
