"""`crm alerts ...`: run the alerts service; snooze, acknowledge, list; set a partner's webhook."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

import typer
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.cli.main import app, friendly_errors
from crm.infra.errors import InfrastructureError
from crm.settings import Settings

alerts_app = typer.Typer(help="Stalled-pilot alerts.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

T = TypeVar("T")


def _parse_instant(value: str) -> datetime:
    """`2021-03-01` (midnight UTC) or an RFC 3339 instant."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (2021-03-01) nor an RFC 3339 instant") from None
    instant = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    from crm.alerts.controls import snooze_end

    try:
        snooze_end(instant)
    except ValueError as error:
        raise typer.BadParameter(f"{value!r}: {error}") from None
    return instant


def _in_transaction(work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    from crm.db.engine import create_engine

    settings = Settings()
    if not settings.database_url:
        raise InfrastructureError("Set CRM_DATABASE_URL to the read-model database.")

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as connection:
                return await work(connection)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@alerts_app.command("run")
@friendly_errors
def alerts_run() -> None:
    """Run the alerts service (needs CRM_KAFKA_BOOTSTRAP and CRM_DATABASE_URL)."""
    from crm.alerts.bootstrap import run_alerts

    run_alerts(Settings())


@alerts_app.command("snooze")
@friendly_errors
def alerts_snooze(
    partner: str,
    pilot: str,
    until: str = typer.Option(..., help="2021-03-01 (midnight UTC) or an RFC 3339 instant."),
    by: str | None = typer.Option(None, help="Who snoozed it (kept with the snooze)."),
) -> None:
    """No alert nor reminder for a pilot until a date (a pilot the partner opened; at most
    CRM_ALERTS_MAX_SNOOZES_PER_PARTNER snoozes of a partner that have not ended)."""
    from crm.alerts.controls import SnoozeRefused, snooze_pilot

    instant = _parse_instant(until)
    cap = Settings().alerts_max_snoozes_per_partner
    try:
        _in_transaction(lambda connection: snooze_pilot(connection, partner, pilot, instant, by, max_snoozes=cap))
    except SnoozeRefused as refused:
        typer.secho(f"not snoozed: {refused}", err=True, fg="red")
        raise typer.Exit(1) from None
    typer.echo(f"{partner}/{pilot} snoozed until {instant.isoformat()}")


@alerts_app.command("ack")
@friendly_errors
def alerts_ack(alert_id: UUID, by: str | None = typer.Option(None, help="Who acknowledged it.")) -> None:
    """Acknowledge an alert: no more reminders for that stall (it still resolves)."""
    from crm.alerts.controls import acknowledge_alert

    found = _in_transaction(lambda connection: acknowledge_alert(connection, alert_id, datetime.now(UTC), by))
    if not found:
        typer.secho(f"no alert {alert_id}", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(f"alert {alert_id} acknowledged")


@alerts_app.command("list")
@friendly_errors
def alerts_list(
    partner: str | None = typer.Option(None, help="One partner's alerts (all of them); else every stalled pilot."),
    open_only: bool = typer.Option(False, "--open", help="With --partner: unresolved alerts only."),
) -> None:
    """List alerts, tab-separated: alert id, status, partner, pilot, idle days, fired at, snoozed until."""
    from crm.alerts.queries import alerts_for_partner, stalled_pilots

    if partner is None:
        views = _in_transaction(lambda connection: stalled_pilots(connection))
    else:
        views = _in_transaction(lambda connection: alerts_for_partner(connection, partner, open_only=open_only))
    for view in views:
        snoozed = view.snoozed_until.isoformat() if view.snoozed_until else "-"
        typer.echo(
            f"{view.alert_id}\t{view.status}\t{view.partner_id}\t{view.pilot_id}\t{view.idle_days}\t"
            f"{view.fired_at.isoformat()}\t{snoozed}"
        )


@alerts_app.command("webhook")
@friendly_errors
def alerts_webhook(partner: str, url: str, secret: str = typer.Option(..., help="The HMAC-SHA256 key.")) -> None:
    """Deliver a partner's alerts to URL, signed with SECRET (replaces an earlier webhook)."""
    from crm.alerts.controls import set_webhook

    _in_transaction(lambda connection: set_webhook(connection, partner, url, secret))
    typer.echo(f"alerts of {partner} go to {url}")
