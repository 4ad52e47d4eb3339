"""The figures of a run as rows of one table: each beside its ceiling and baseline, as ratios.

Pure: no I/O, no clock. A row is one figure (a rate, a latency, a size), with the ceiling and the
baseline it is compared with, both measured in the same run, and the targets it is held to.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.table import Table

Basis = Literal["value", "vs_ceiling", "vs_baseline"]


@dataclass(frozen=True)
class Reference:
    """A ceiling or a baseline: what the figure is compared with, measured in the same run."""

    label: str
    value: float


@dataclass(frozen=True)
class Target:
    """`value` (or a ratio) must be at least `bound`, or below it when `at_least` is False."""

    bound: float
    on: Basis = "value"
    at_least: bool = True

    def met(self, row: "Row") -> bool | None:
        measured = row.measured(self.on)
        if measured is None:
            return None
        return measured >= self.bound if self.at_least else measured < self.bound

    def describe(self, unit: str) -> str:
        sign = "≥" if self.at_least else "<"
        if self.on == "value":
            return f"{sign} {_number(self.bound)} {unit}"
        return f"{sign} {_number(self.bound)}x {self.on.removeprefix('vs_')}"


@dataclass(frozen=True)
class Row:
    group: str
    figure: str
    value: float
    unit: str
    ceiling: Reference | None = None
    baseline: Reference | None = None
    targets: tuple[Target, ...] = ()
    note: str = ""

    @property
    def vs_ceiling(self) -> float | None:
        return _ratio(self.value, self.ceiling)

    @property
    def vs_baseline(self) -> float | None:
        return _ratio(self.value, self.baseline)

    def measured(self, basis: Basis) -> float | None:
        return {"value": self.value, "vs_ceiling": self.vs_ceiling, "vs_baseline": self.vs_baseline}[basis]

    def verdict(self) -> bool | None:
        """True when every target is met, False when one is not, None without targets."""
        verdicts = [target.met(self) for target in self.targets]
        if not verdicts:
            return None
        return all(v is True for v in verdicts)

    def as_json(self) -> dict[str, Any]:
        def reference(ref: Reference | None) -> dict[str, Any] | None:
            return None if ref is None else {"label": ref.label, "value": _rounded(ref.value)}

        return {
            "group": self.group,
            "figure": self.figure,
            "value": _rounded(self.value),
            "unit": self.unit,
            "ceiling": reference(self.ceiling),
            "baseline": reference(self.baseline),
            "vs_ceiling": None if self.vs_ceiling is None else round(self.vs_ceiling, 4),
            "vs_baseline": None if self.vs_baseline is None else round(self.vs_baseline, 4),
            "targets": [
                {"on": t.on, "bound": t.bound, "at_least": t.at_least, "met": t.met(self)} for t in self.targets
            ],
            "met": self.verdict(),
            "note": self.note,
        }


def _ratio(value: float, reference: Reference | None) -> float | None:
    if reference is None or reference.value == 0:
        return None
    return value / reference.value


def _rounded(value: float) -> float:
    return round(value, 3) if abs(value) < 100 else round(value, 1)


def _number(value: float) -> str:
    if value != value:  # NaN: a figure that could not be measured
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value else "0"


def _ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.3g}x"


def _reference_text(reference: Reference | None) -> str:
    return "-" if reference is None else f"{_number(reference.value)} {reference.label}"


def verdict_text(verdict: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "-"}[verdict]


def table(rows: Sequence[Row], title: str) -> Table:
    """One table for the whole run; the group is printed once, on its first row."""
    out = Table(title=title, show_lines=False)
    for name, justify in (
        ("benchmark", "left"),
        ("figure", "left"),
        ("value", "right"),
        ("unit", "left"),
        ("ceiling", "right"),
        ("x ceil", "right"),
        ("baseline", "right"),
        ("x base", "right"),
        ("target", "left"),
        ("met", "left"),
        ("note", "left"),
    ):
        out.add_column(name, justify=justify)  # type: ignore[arg-type]
    previous = None
    for row in rows:
        verdict = row.verdict()
        out.add_row(
            row.group if row.group != previous else "",
            *_figure_cells(row),
            {True: "[green]met[/]", False: "[red]NOT met[/]", None: "-"}[verdict],
            row.note,
        )
        previous = row.group
    return out


def _figure_cells(row: Row) -> list[str]:
    """The columns from figure to target, as both the terminal and the Markdown table show them."""
    return [
        row.figure,
        _number(row.value),
        row.unit,
        _reference_text(row.ceiling),
        _ratio_text(row.vs_ceiling),
        _reference_text(row.baseline),
        _ratio_text(row.vs_baseline),
        "; ".join(t.describe(row.unit) for t in row.targets) or "-",
    ]


def markdown(rows: Sequence[Row]) -> str:
    """The same table as Markdown, for docs/benchmarks.md."""
    head = "| benchmark | figure | value | unit | ceiling | x ceiling | baseline | x baseline | target | met | note |"
    lines = [head, "|" + "---|" * 11]
    for row in rows:
        cells = [row.group, *_figure_cells(row), verdict_text(row.verdict()), row.note.replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@dataclass
class RunRecord:
    """Everything one run writes to bench/results/<date>.json."""

    run_at: str
    quick: bool
    duration_seconds: float
    machine: dict[str, Any]
    versions: dict[str, Any]
    settings: dict[str, Any]
    rows: list[Row]
    details: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_at": self.run_at,
            "quick": self.quick,
            "duration_seconds": round(self.duration_seconds, 1),
            "machine": self.machine,
            "versions": self.versions,
            "settings": self.settings,
            "rows": [row.as_json() for row in self.rows],
            "targets_met": sum(1 for row in self.rows if row.verdict() is True),
            "targets_not_met": sum(1 for row in self.rows if row.verdict() is False),
            "details": self.details,
            "errors": self.errors,
        }
