"""`crm report freeze | reopen | show | status | restatements | export` (docs/reports.md)."""

import getpass
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.cli.database import with_engine
from crm.cli.errors import fail
from crm.reports.store import ReportRefused, ReportStore, UnknownReport

report_app = typer.Typer(help="Funder reports: freeze, re-open, show, restatements, export.", no_args_is_help=True)


class ExportFormat(StrEnum):
    """The formats of `crm.reports.exports.FORMATS` (a unit test keeps the two the same)."""

    json = "json"
    csv = "csv"
    xlsx = "xlsx"
    html = "html"
    pdf = "pdf"


PROGRAMME = typer.Option(..., "--programme", "-p", help="The programme id (crm programme show).")
PERIOD = typer.Option(..., "--period", min=1, help="The reporting period's number.")
BY = typer.Option(None, "--by", help="Who takes the step (default: your login name).")


def _run(action: Any) -> Any:
    """`action(engine)` with refusals and unknown reports as one clear line and exit 1."""
    try:
        return with_engine(action, holding="the programmes and reports")
    except (ReportRefused, UnknownReport) as error:
        raise fail(str(error)) from None


@report_app.command("freeze")
def report_freeze(programme: str = PROGRAMME, period: int = PERIOD, by: str | None = BY) -> None:
    """Compute the period's report, store it frozen as its next revision, and submit it."""

    async def freeze(engine: AsyncEngine) -> None:
        frozen = await ReportStore(engine).freeze(programme, period, by or getpass.getuser())
        typer.echo(
            f"report {programme} period {period} frozen and submitted: revision {frozen.revision}, "
            f"{len(frozen.document):,} bytes, programme version {frozen.programme_version}"
        )

    _run(freeze)


@report_app.command("reopen")
def report_reopen(
    programme: str = PROGRAMME,
    period: int = PERIOD,
    by: str | None = BY,
    note: str | None = typer.Option(None, "--note", help="Why it is re-opened (recorded with the step)."),
) -> None:
    """Re-open a submitted report: a draft again until the next freeze (its revisions stay)."""

    async def reopen(engine: AsyncEngine) -> None:
        step = await ReportStore(engine).reopen(programme, period, by or getpass.getuser(), note)
        typer.echo(f"report {programme} period {period} re-opened (revision {step.revision} stays on record)")

    _run(reopen)


@report_app.command("show")
def report_show(
    programme: str = PROGRAMME,
    period: int = PERIOD,
    revision: int | None = typer.Option(None, "--revision", min=1, help="One frozen revision."),
    partner: str | None = typer.Option(None, "--partner", help="One partner's slice only."),
) -> None:
    """The report as JSON: the submitted revision byte for byte, else today's draft."""
    from crm.reports.reading import report_body

    async def show(engine: AsyncEngine) -> bytes:
        async with engine.connect() as connection:
            found = await report_body(connection, programme, period, partner_id=partner, revision=revision)
            return found.body

    sys.stdout.buffer.write(_run(show) + b"\n")


@report_app.command("status")
def report_status(
    programme: str = PROGRAMME,
    as_json: bool = typer.Option(False, "--json", help="One JSON array, a period per element."),
) -> None:
    """Each period's report: its status, revision and lifecycle steps (who, when)."""
    from rich.console import Console
    from rich.table import Table

    from crm.programmes.store import stored_programme
    from crm.reports.reading import lifecycle_json
    from crm.reports.store import lifecycle

    async def status(engine: AsyncEngine) -> list[dict[str, Any]]:
        async with engine.connect() as connection:
            stored = await stored_programme(connection, programme)
            if stored is None:
                raise UnknownReport(f"no programme {programme} is defined (crm programme apply)")
            return [
                lifecycle_json(programme, p.number, await lifecycle(connection, programme, p.number))
                | {"end": p.end.isoformat(), "report_deadline": p.report_deadline.isoformat()}
                for p in stored.programme.periods
            ]

    rows = _run(status)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Reports of {programme}")
    for column in ("period", "ends", "deadline", "status", "revision", "last step"):
        table.add_column(column)
    for row in rows:
        last = row["steps"][-1] if row["steps"] else None
        table.add_row(
            str(row["period"]),
            row["end"],
            row["report_deadline"],
            row["status"],
            str(row["revision"] or "-"),
            f"{last['step']} by {last['by']} at {last['at']}" if last else "-",
        )
    Console().print(table)


@report_app.command("restatements")
def report_restatements_command(
    programme: str = PROGRAMME,
    period: int = PERIOD,
    partner: str | None = typer.Option(None, "--partner", help="One partner's figures only."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document: the revision and its restated figures."),
) -> None:
    """What today's figures say of the frozen report: each changed figure and the events behind it."""
    from crm.reports.reading import report_restatements

    async def restate(engine: AsyncEngine) -> dict[str, Any]:
        async with engine.connect() as connection:
            return await report_restatements(connection, programme, period, partner_id=partner)

    found = _run(restate)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    changes = found["restatements"]
    typer.echo(
        f"report {programme} period {period} revision {found['revision']} (frozen {found['frozen_at']}): "
        f"{len(changes)} restated figure(s)"
    )
    for change in changes:
        whose = change["partner_id"] or "programme"
        typer.echo(
            f"  {change['indicator']} {change['figure']} ({whose}): {change['frozen']} -> {change['today']} "
            f"({change['difference']:+}), {len(change['events'])} event(s): "
            + ", ".join(f"{e['event_type']} {e['event_id']}" for e in change["events"])
        )


@report_app.command("export")
def report_export(
    programme: str = PROGRAMME,
    period: int = PERIOD,
    output_format: ExportFormat = typer.Option(
        ExportFormat.json, "--format", "-f", help='The file\'s format (docs/reports.md, "Exports").'
    ),
    output: Path = typer.Option(..., "--output", "-o", help="The file to write."),
    partner: str | None = typer.Option(None, "--partner", help="One partner's slice only."),
) -> None:
    """Write the report (the submitted revision, else today's draft) to a file. JSON is the report's
    bytes as stored (a frozen revision's, byte for byte); the other formats render them."""
    import orjson

    from crm.reports.exports import export
    from crm.reports.exports.pdf import FontMissing
    from crm.reports.reading import report_body, report_series

    async def render(engine: AsyncEngine) -> bytes:
        async with engine.connect() as connection:
            found = await report_body(connection, programme, period, partner_id=partner)
            if output_format is ExportFormat.json:
                return found.body  # not re-encoded: a frozen report's stored bytes as they are
            series = await report_series(connection, programme, period, partner_id=partner)
            return export(output_format.value, orjson.loads(found.body), series)

    try:
        data = _run(render)
    except FontMissing as error:
        raise fail(str(error)) from None
    output.write_bytes(data)
    typer.echo(f"wrote {output} ({len(data):,} bytes)")
