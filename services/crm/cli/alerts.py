"""`crm alerts ...`: run the alerts service; snooze, acknowledge, list; set a partner's webhook."""

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

import typer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm.cli.database import with_engine
from crm.cli.errors import fail
from crm.cli.settings import cli_settings, require_database, require_kafka

alerts_app = typer.Typer(help="Stalled-pilot alerts.", no_args_is_help=True)

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
    async def run(engine: AsyncEngine) -> T:
        async with engine.begin() as connection:
            return await work(connection)

    return with_engine(run, holding="the alerts")


@alerts_app.command("run")
def alerts_run() -> None:
    """Run the alerts service on the Kafka and PostgreSQL of the settings (or of `crm up`)."""
    from crm.alerts.bootstrap import run_alerts

    settings = cli_settings()
    require_kafka(settings)
    require_database(settings, "the alerts")
    run_alerts(settings)


@alerts_app.command("snooze")
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
    cap = cli_settings().alerts_max_snoozes_per_partner
    try:
        _in_transaction(lambda connection: snooze_pilot(connection, partner, pilot, instant, by, max_snoozes=cap))
    except SnoozeRefused as refused:
        raise fail(f"not snoozed: {refused}") from None
    typer.echo(f"{partner}/{pilot} snoozed until {instant.isoformat()}")


@alerts_app.command("ack")
def alerts_ack(alert_id: UUID, by: str | None = typer.Option(None, help="Who acknowledged it.")) -> None:
    """Acknowledge an alert: no more reminders for that stall (it still resolves)."""
    from crm.alerts.controls import acknowledge_alert

    found = _in_transaction(lambda connection: acknowledge_alert(connection, alert_id, datetime.now(UTC), by))
    if not found:
        raise fail(f"no alert {alert_id}")
    typer.echo(f"alert {alert_id} acknowledged")


@alerts_app.command("list")
def alerts_list(
    partner: str | None = typer.Option(None, help="One partner's alerts (all of them); else every stalled pilot."),
    open_only: bool = typer.Option(False, "--open", help="With --partner: unresolved alerts only."),
    as_json: bool = typer.Option(False, "--json", help="One JSON array of the alerts."),
) -> None:
    """List alerts, tab-separated under a header line: alert id, status, partner, pilot, idle days,
    fired at, snoozed until."""
    from crm.alerts.queries import alerts_for_partner, stalled_pilots

    if partner is None:
        views = _in_transaction(lambda connection: stalled_pilots(connection))
    else:
        views = _in_transaction(lambda connection: alerts_for_partner(connection, partner, open_only=open_only))
    if as_json:
        rows = [
            {
                "alert_id": str(view.alert_id),
                "status": view.status,
                "partner_id": view.partner_id,
                "pilot_id": view.pilot_id,
                "idle_days": view.idle_days,
                "fired_at": view.fired_at.isoformat(),
                "snoozed_until": view.snoozed_until.isoformat() if view.snoozed_until else None,
            }
            for view in views
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    typer.echo("alert id\tstatus\tpartner\tpilot\tidle days\tfired at\tsnoozed until")
    for view in views:
        snoozed = view.snoozed_until.isoformat() if view.snoozed_until else "-"
        typer.echo(
            f"{view.alert_id}\t{view.status}\t{view.partner_id}\t{view.pilot_id}\t{view.idle_days}\t"
            f"{view.fired_at.isoformat()}\t{snoozed}"
        )


@alerts_app.command("webhook")
def alerts_webhook(partner: str, url: str, secret: str = typer.Option(..., help="The HMAC-SHA256 key.")) -> None:
    """Deliver a partner's alerts to URL, signed with SECRET (replaces an earlier webhook)."""
    from crm.alerts.controls import set_webhook

    _in_transaction(lambda connection: set_webhook(connection, partner, url, secret))
    typer.echo(f"alerts of {partner} go to {url}")
