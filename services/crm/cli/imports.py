"""`crm import FILE --partner ID`: a partner's history, validated whole, then sent in batches."""

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from crm.cli.errors import ExitCode, explain
from crm.cli.settings import cli_settings, require_database, require_kafka

if TYPE_CHECKING:
    from crm.programmes.membership import Memberships

import_app = typer.Typer()


@import_app.command("import")
def import_history(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or JSON Lines (.jsonl)"),
    partner: str = typer.Option(..., "--partner", help="The partner whose history this is."),
    batch_size: int = typer.Option(500, "--batch-size", min=1, help="Events per batch sent to Kafka."),
    check_only: bool = typer.Option(False, "--check", help="Validate the file and stop."),
) -> None:
    """Validate the whole FILE, report bad rows by line number, then send it in batches.

    FILE is CSV or JSON Lines (.jsonl); docs/ingestion.md "Importing history" documents the format.

    CSV: event_type, occurred_at, sme_id; optional event_id, partner_id; payload fields by name.

    An empty cell is absent; target_markets is CN;VN; hours and value_eur are numbers.

    Rows without event_id get one derived from their content: re-running a file counts nothing twice.
    """
    from rich.console import Console
    from rich.progress import Progress

    from crm.contract.lifecycle import VersionPolicy
    from crm.db.engine import create_engine
    from crm.db.failures import is_database_failure
    from crm.gateway.claims import ClaimsUnavailable, ConflictingEvents, PostgresEventClaims
    from crm.gateway.ingestion import Limits
    from crm.gateway.kafka import KafkaEventSink
    from crm.importer.rows import UnreadableFile, read_rows
    from crm.importer.send import check_rows, send_rows
    from crm.messaging.publisher import PublishFailed

    settings = cli_settings()
    # History is imported whatever its version: a sunset stops partners' systems, not the archive.
    limits = replace(Limits.from_settings(settings), versions=VersionPolicy())
    err = Console(stderr=True)
    try:
        rows, problems = read_rows(file, partner)
    except UnreadableFile as error:
        typer.secho(f"error: {error}", err=True, fg="red")
        raise typer.Exit(1) from None
    if not check_only:
        require_kafka(settings)
        require_database(settings, "the accepted event ids")
    memberships: Memberships | None = None
    if settings.database_url:  # the programmes' partners, read once: every row is judged by them
        try:
            memberships = asyncio.run(_read_memberships(settings.database_url, settings.default_programme))
        except Exception as error:
            if not is_database_failure(error):
                raise
            typer.secho(f"error: {explain(error).message}; nothing was sent.", err=True, fg="red")
            raise typer.Exit(ExitCode.UNREACHABLE) from None
    else:
        err.print("[yellow]CRM_DATABASE_URL is not set: the rows' programmes were not checked.[/yellow]")
    problems += check_rows(rows, limits, memberships) if rows else []
    if problems:
        for problem in sorted(problems, key=lambda p: p.line):
            typer.echo(f"{file}:{problem.line}: {problem.field}: {problem.message}", err=True)
        typer.secho(f"{len(problems)} problem(s); nothing was sent.", err=True, fg="red")
        raise typer.Exit(1)
    if check_only:
        typer.echo(f"{len(rows)} rows are valid")
        return
    assert memberships is not None

    async def send() -> int:
        sink = KafkaEventSink(settings.kafka, settings.events_topic, publish_timeout=settings.gateway_publish_timeout)
        engine = create_engine(settings.database_url, pool_size=1)
        await sink.start()
        try:
            with Progress(console=err, transient=False) as progress:
                task = progress.add_task(f"sending {file.name}", total=len(rows))
                report = await send_rows(
                    rows,
                    partner,
                    PostgresEventClaims(engine, count_old_versions=False),
                    sink,
                    limits,
                    memberships,
                    batch_size=min(batch_size, limits.max_events),
                    on_batch=lambda n: progress.advance(task, n),
                )
            return report.sent
        finally:
            await sink.stop()
            await engine.dispose()

    try:
        sent = asyncio.run(send())
    except PublishFailed as error:
        typer.secho(f"error: Kafka is unavailable ({error}); re-running the import is safe.", err=True, fg="red")
        raise typer.Exit(ExitCode.UNREACHABLE) from None
    except ClaimsUnavailable as error:
        typer.secho(f"error: the database is unavailable ({error}); re-running the import is safe.", err=True, fg="red")
        raise typer.Exit(ExitCode.UNREACHABLE) from None
    except ConflictingEvents as error:
        for conflict in error.problems:
            typer.secho(f"error: {conflict.message}", err=True, fg="red")
        typer.secho("events sent before this batch stay sent; nothing of this batch was sent.", err=True, fg="red")
        raise typer.Exit(1) from None
    typer.echo(f"{sent} events sent")


async def _read_memberships(database_url: str, default_programme: str) -> "Memberships":
    """The programmes' partners as the gateway would judge them (`crm.programmes.membership`)."""
    from crm.db.engine import create_engine
    from crm.programmes.membership import read_memberships

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await read_memberships(connection, default_programme)
    finally:
        await engine.dispose()
