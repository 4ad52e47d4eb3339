"""`crm dlq`, `crm projections` and `crm status`: operating the projector's read models."""

import asyncio
import json
from dataclasses import asdict
from enum import StrEnum

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.cli.database import with_engine
from crm.cli.settings import cli_settings, require_database, require_kafka
from crm.settings import Settings

dlq_app = typer.Typer(help="The dead-letter topic (messages no consumer could decode).", no_args_is_help=True)
projections_app = typer.Typer(help="The projector's read models.", no_args_is_help=True)
status_app = typer.Typer()

console = Console()
progress_console = Console(stderr=True)


class StatusFormat(StrEnum):
    table = "table"
    json = "json"
    prometheus = "prometheus"


def _kafka_settings() -> Settings:
    settings = cli_settings()
    require_kafka(settings)
    return settings


@dlq_app.command("list")
def dlq_list(as_json: bool = typer.Option(False, "--json", help="JSON Lines: one object per dead letter.")) -> None:
    """Show every parked message: where it came from, why it was refused, its first bytes."""
    from crm.projector.dead_letter_admin import list_dead_letters

    letters = asyncio.run(list_dead_letters(_kafka_settings()))
    if as_json:
        for letter in letters:
            row = {
                "partition": letter.partition,
                "offset": letter.offset,
                "key": (letter.key or b"").decode(errors="replace"),
                "value": (letter.value or b"").decode(errors="replace"),
                "headers": letter.headers,
            }
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("offset", "parked at", "source", "reason", "value"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        source = f"{letter.headers.get('dlq.source.topic', '?')}/{letter.headers.get('dlq.source.partition', '?')}"
        source += f"@{letter.headers.get('dlq.source.offset', '?')}"
        value = (letter.value or b"")[:60].decode(errors="replace")
        table.add_row(str(letter.offset), letter.headers.get("dlq.parked_at", ""), source, letter.reason, value)
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(dry_run: bool = typer.Option(False, help="Show what would be sent back, send nothing.")) -> None:
    """Send dead letters not replayed before back to crm.events (original key and bytes)."""
    from crm.projector.dead_letter_admin import replay_dead_letters

    letters = asyncio.run(replay_dead_letters(_kafka_settings(), dry_run=dry_run))
    valid = sum(1 for letter in letters if letter.decodes_now)
    verb = "would send" if dry_run else "sent"
    typer.echo(f"{verb} {len(letters)} dead letters back ({valid} valid now, {len(letters) - valid} still invalid)")


class EventsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} events/s" if speed else "- events/s", style="progress.data.speed")


@projections_app.command("rebuild")
def projections_rebuild(
    partner: str | None = typer.Option(None, "--partner", help="Rebuild only this partner's rows."),
    batch_size: int = typer.Option(5000, min=1, help="Events per transaction."),
) -> None:
    """Replay crm.events from the start into fresh tables and swap them in atomically (progress
    on stderr, the outcome on stdout)."""
    from crm.projector.rebuild import rebuild_projections

    settings = _kafka_settings()
    require_database(settings)
    columns = (
        TextColumn("[bold]rebuilding {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        EventsPerSecond(),
        TimeElapsedColumn(),
        TextColumn("remaining"),
        TimeRemainingColumn(),
    )
    # A bar is for a terminal; in a log it would be one line of noise.
    with Progress(*columns, console=progress_console, disable=not progress_console.is_terminal) as progress:
        task = progress.add_task(partner or "all partners", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        outcome = asyncio.run(
            rebuild_projections(settings, partner_id=partner, batch_size=batch_size, on_progress=advance)
        )
    rate = outcome.read / max(outcome.seconds, 1e-9)
    console.print(
        f"rebuilt {outcome.partner_id or 'all partners'}: {outcome.read:,} events read, {outcome.applied:,} applied, "
        f"{outcome.invalid:,} invalid and {outcome.refused:,} refused skipped (parked by the projector), "
        f"{outcome.seconds:.1f}s ({rate:,.0f} events/s)"
    )


@status_app.command("status")
def status(
    output: StatusFormat = typer.Option(StatusFormat.table, "--format", help="How to print it."),
    as_json: bool = typer.Option(False, "--json", help="The same as --format json: one JSON document."),
) -> None:
    """Consumer lag of the projector per partition, the newest event it applied, and the partners
    still sending an older contract version."""
    from crm.gateway.version_usage import VersionUsage, version_usage
    from crm.projector.status import ProjectorStatus, projector_status
    from crm.status_metrics import prometheus_text

    settings = _kafka_settings()

    async def snapshot(engine: AsyncEngine) -> tuple[ProjectorStatus, list[VersionUsage]]:
        current = await projector_status(settings, engine)
        async with engine.connect() as connection:
            return current, await version_usage(connection, settings.contract_sunsets)

    current, versions = with_engine(snapshot, settings=settings)
    if as_json:
        output = StatusFormat.json
    if output is StatusFormat.prometheus:
        typer.echo(prometheus_text(current, versions, settings.contract_sunsets), nl=False)
        return
    if output is StatusFormat.json:
        body = asdict(current) | {"lag": current.lag, "old_contract_versions": [asdict(v) for v in versions]}
        typer.echo(json.dumps(body, default=str))
        return
    table = Table(title=f"projector group {current.group} on {current.topic}")
    for column in ("partition", "committed", "end", "lag"):
        table.add_column(column, justify="right")
    for p in current.partitions:
        table.add_row(str(p.partition), "-" if p.committed is None else str(p.committed), str(p.end), str(p.lag))
    console.print(table)
    console.print(
        f"lag {current.lag} events; {current.applied_events} applied; newest event {current.newest_occurred_at}; "
        f"last applied at {current.last_applied_at}"
    )
    if not versions:
        console.print("no partner has sent an older contract version")
        return
    usage = Table(title="partners still sending an older contract version")
    for column in ("partner", "schema_version", "events", "first", "last", "sunset"):
        usage.add_column(column, justify="right" if column == "events" else "left")
    for v in versions:
        sunset = v.sunset.isoformat() if v.sunset else "not set"
        usage.add_row(
            v.partner_id,
            str(v.schema_version),
            f"{v.events:,}",
            f"{v.first_at:%Y-%m-%d %H:%M}",
            f"{v.last_at:%Y-%m-%d %H:%M}",
            sunset,
        )
    console.print(usage)
