"""The report as one printable HTML page (docs/reports.md, "Exports").

Self-contained: inline CSS (with print rules for A4), no scripts, no external assets. Every
section is a table; each indicator has an inline SVG chart of its cumulative value at the end of
each period against its target (a dashed step line) and its milestones (diamonds). Every string
of the document is escaped: text that partners send (counterparts, titles) is never markup.
"""

from html import escape
from typing import Any

from crm.reports.exports.sections import (
    Chart,
    Section,
    cell_text,
    charts,
    nice_ceiling,
    number_text,
    sections,
    title_of,
)

_CSS = """
:root { --ink: #1b1f24; --muted: #5b6470; --line: #c9d1db; --head: #e8eef5; --value: #1f4e79;
        --target: #c00000; --milestone: #ed7d31; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.4 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: var(--ink);
       margin: 2em auto; max-width: 1100px; padding: 0 1.5em; }
h1 { font-size: 18pt; margin: 0 0 .2em; }
h2 { font-size: 13pt; margin: 1.6em 0 .5em; border-bottom: 2px solid var(--line); padding-bottom: .2em; }
p.meta { color: var(--muted); margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { border: 1px solid var(--line); padding: .25em .45em; text-align: left; vertical-align: top; }
th { background: var(--head); }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.empty { color: var(--muted); font-style: italic; }
table.summary th { width: 14em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; width: 520px; border: 1px solid var(--line); padding: .4em; }
figcaption { font-weight: bold; font-size: 9.5pt; margin-bottom: .2em; }
svg text { font: 9px "DejaVu Sans", Arial, sans-serif; fill: var(--ink); }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .grid { stroke: var(--line); stroke-width: .5; }
svg .value { stroke: var(--value); stroke-width: 2.2; fill: none; }
svg .dot { fill: var(--value); }
svg .target { stroke: var(--target); stroke-width: 1.5; stroke-dasharray: 6 4; fill: none; }
svg .milestone { fill: var(--milestone); stroke: #fff; stroke-width: .8; }
footer { margin-top: 2em; color: var(--muted); font-size: 8.5pt; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 9.5pt; }
  h2 { break-after: avoid; }
  figure { break-inside: avoid; width: 48%; }
  figure svg { width: 100%; height: auto; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
}
"""

_W, _H = 500, 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 84, 14, 40


def _f(value: float) -> str:
    return f"{value:.1f}"


def chart_svg(chart: Chart) -> str:
    """An inline SVG: the cumulative value per period (line and dots, labelled), the target of each
    period (dashed step line) and the milestones (diamonds)."""
    points = chart.points
    values = [v for p in points for v in (p.cumulative, p.target, p.milestone) if v is not None]
    top = nice_ceiling(max(values, default=0) * 1.08)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    step = plot_w / max(1, len(points))

    def x(index: int) -> float:
        return _LEFT + step * (index + 0.5)

    def y(value: float) -> float:
        return _TOP + plot_h - plot_h * value / top

    label = f"{chart.code} {chart.name}: cumulative {chart.unit} per period against the target"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" '
        f'role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]
    for tick in range(5):
        value = top * tick / 4
        out.append(f'<line class="grid" x1="{_LEFT}" y1="{_f(y(value))}" x2="{_LEFT + plot_w}" y2="{_f(y(value))}"/>')
        out.append(
            f'<text x="{_LEFT - 4}" y="{_f(y(value) + 3)}" text-anchor="end">{escape(number_text(value))}</text>'
        )
    out.append(f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + plot_h}"/>')
    out.append(f'<line class="axis" x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_LEFT + plot_w}" y2="{_TOP + plot_h}"/>')
    for index, point in enumerate(points):
        out.append(
            f'<text x="{_f(x(index))}" y="{_TOP + plot_h + 13}" text-anchor="middle">P{point.period}</text>'
            f'<text x="{_f(x(index))}" y="{_TOP + plot_h + 24}" text-anchor="middle">{escape(point.end)}</text>'
        )
    for index, point in enumerate(points):  # the target: a step per period, where there is one
        if point.target is not None and point.target > 0:
            start, end = x(index) - step / 2, x(index) + step / 2
            out.append(
                f'<line class="target" x1="{_f(start)}" y1="{_f(y(point.target))}" '
                f'x2="{_f(end)}" y2="{_f(y(point.target))}"/>'
            )
    final = next((p.target for p in reversed(points) if p.target is not None and p.target > 0), None)
    if final is not None:
        out.append(
            f'<text x="{_LEFT + plot_w + 4}" y="{_f(y(final) + 3)}" fill="#c00000">'
            f"target {escape(number_text(final))}</text>"
        )
    counted = [(index, p.cumulative) for index, p in enumerate(points) if p.cumulative is not None]
    if len(counted) > 1:
        line = " ".join(f"{_f(x(i))},{_f(y(v))}" for i, v in counted)
        out.append(f'<polyline class="value" points="{line}"/>')
    for index, value in counted:
        out.append(f'<circle class="dot" cx="{_f(x(index))}" cy="{_f(y(value))}" r="3"/>')
        out.append(
            f'<text x="{_f(x(index))}" y="{_f(y(value) - 6)}" text-anchor="middle">{escape(number_text(value))}</text>'
        )
    for index, point in enumerate(points):
        if point.milestone is not None:
            cx, cy = x(index), y(point.milestone)
            out.append(
                f'<polygon class="milestone" points="{_f(cx)},{_f(cy - 5)} {_f(cx + 5)},{_f(cy)} '
                f'{_f(cx)},{_f(cy + 5)} {_f(cx - 5)},{_f(cy)}"/>'
            )
            out.append(
                f'<text x="{_f(cx + 7)}" y="{_f(cy + 3)}">milestone {escape(number_text(point.milestone))}</text>'
            )
    legend_y = _H - 4
    out.append(
        f'<line class="value" x1="{_LEFT}" y1="{legend_y - 3}" x2="{_LEFT + 18}" y2="{legend_y - 3}"/>'
        f'<text x="{_LEFT + 22}" y="{legend_y}">cumulative</text>'
        f'<line class="target" x1="{_LEFT + 90}" y1="{legend_y - 3}" x2="{_LEFT + 108}" y2="{legend_y - 3}"/>'
        f'<text x="{_LEFT + 112}" y="{legend_y}">{"target" if final is not None else "no target"}</text>'
    )
    if any(p.milestone is not None for p in points):
        out.append(
            f'<polygon class="milestone" points="{_LEFT + 185},{legend_y - 7} {_LEFT + 189},{legend_y - 3} '
            f'{_LEFT + 185},{legend_y + 1} {_LEFT + 181},{legend_y - 3}"/>'
            f'<text x="{_LEFT + 193}" y="{legend_y}">milestone</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="n">{escape(cell_text(value))}</td>'
    return f"<td>{escape(cell_text(value))}</td>"


def _table(section: Section) -> str:
    if section.key == "summary":
        rows = "".join(
            f"<tr><th>{escape(str(row[0]))}</th><td>{escape(cell_text(row[1]))}</td></tr>" for row in section.rows
        )
        return f'<table class="summary"><tbody>{rows}</tbody></table>'
    head = "".join(f"<th>{escape(column)}</th>" for column in section.columns)
    if section.rows:
        body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in section.rows)
    else:
        body = f'<tr><td class="empty" colspan="{len(section.columns)}">none</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(document: dict[str, Any], series: list[dict[str, Any]]) -> bytes:
    title = title_of(document)
    period, report = document["period"], document["report"]
    status = report["status"]
    if report.get("revision") is not None:
        status += f", revision {report['revision']}, frozen {report['frozen_at']} by {report['frozen_by']}"
    found = {section.key: section for section in sections(document, series)}
    figures = "".join(
        f"<figure><figcaption>{escape(chart.code)} {escape(chart.name)}</figcaption>{chart_svg(chart)}</figure>"
        for chart in charts(document, series)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{escape(document['programme']['name'])}</h1>",
        f'<p class="meta">{escape(document["programme"]["funding_programme"])}</p>',
        f'<p class="meta">Report of period {period["number"]} ({escape(period["start"])} to {escape(period["end"])},'
        f" due {escape(period['report_deadline'])}): {escape(status)}"
        + (f"; partner {escape(document['slice']['partner_id'])} only" if document.get("slice") else "")
        + "</p></header>",
        f'<section id="summary"><h2>Summary</h2>{_table(found["summary"])}</section>',
        f'<section id="charts"><h2>Indicators against their targets</h2><div class="charts">{figures}</div></section>',
    ]
    for key in ("indicators", "by_partner", "agreements", "pilots", "shared_companies", "partners", "progress"):
        section = found[key]
        parts.append(f'<section id="{key}"><h2>{escape(section.title)}</h2>{_table(section)}</section>')
    parts.append(
        "<footer>SmartGrowth CRM funder report. Figures as "
        + ("frozen at submission." if report.get("frozen_at") else "of the draft: they change until it is frozen.")
        + "</footer></body></html>\n"
    )
    return "".join(parts).encode("utf-8")
