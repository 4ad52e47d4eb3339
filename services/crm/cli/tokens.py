"""`crm tokens create | list | revoke`: operator commands on CRM_DATABASE_URL."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from crm.auth.principals import Role
from crm.auth.tokens import TokenStore
from crm.cli.main import app, friendly_errors
from crm.contract.fields import SLUG_PATTERN
from crm.infra.errors import InfrastructureError
from crm.settings import Settings

T = TypeVar("T")

tokens_app = typer.Typer(help="Bearer tokens of partners and analysts.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


def _with_store(action: Callable[[TokenStore], Awaitable[T]]) -> T:
    from crm.db.engine import create_engine

    settings = Settings()
    if not settings.database_url:
        raise InfrastructureError("Set CRM_DATABASE_URL to the database holding the tokens.")

    async def run() -> T:
        store = TokenStore(create_engine(settings.database_url, pool_size=1))
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


@tokens_app.command("create")
@friendly_errors
def tokens_create(
    partner: str | None = typer.Option(None, "--partner", help="The partner id this token writes and reads for."),
    analyst: bool = typer.Option(False, "--analyst", help="A read-only token for every partner."),
    label: str | None = typer.Option(None, "--label", help="A note for `crm tokens list`."),
) -> None:
    """Print a new token alone on stdout. It is shown once; only its hash is stored."""
    import re

    if (partner is None) == (not analyst):
        typer.secho("error: give exactly one of --partner ID or --analyst", err=True, fg="red")
        raise typer.Exit(2)
    if partner is not None and not re.fullmatch(SLUG_PATTERN, partner):
        typer.secho(f"error: {partner!r} is not a partner id (a lowercase slug)", err=True, fg="red")
        raise typer.Exit(2)
    role: Role = "analyst" if analyst else "partner"
    token_id, token = _with_store(lambda store: store.create(role, partner, label))
    typer.secho(f"token {token_id} ({role}{' ' + partner if partner else ''}) created", err=True)
    typer.echo(token)


@tokens_app.command("list")
@friendly_errors
def tokens_list() -> None:
    """Every token: id, role, partner, created, revoked, label. Never the tokens themselves."""
    records = _with_store(lambda store: store.list())
    for r in records:
        revoked = r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "active"
        typer.echo(
            f"{r.id}\t{r.role}\t{r.partner_id or '*'}\t{r.created_at.isoformat(timespec='seconds')}\t"
            f"{revoked}\t{r.label or ''}"
        )


@tokens_app.command("revoke")
@friendly_errors
def tokens_revoke(token_id: str = typer.Argument(..., help="The id shown by `crm tokens list`.")) -> None:
    """Revoke a token; running gateways refuse it within CRM_TOKEN_CACHE_SECONDS."""
    if not _with_store(lambda store: store.revoke(token_id)):
        typer.secho(f"error: no active token {token_id!r}", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(f"revoked {token_id}")
