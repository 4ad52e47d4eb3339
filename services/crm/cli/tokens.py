"""`crm tokens create | list | revoke`: operator commands on the database holding the tokens."""

import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from crm.auth.principals import Role
from crm.auth.tokens import TokenStore
from crm.cli.database import with_engine
from crm.cli.errors import ExitCode, fail
from crm.contract.fields import SLUG_PATTERN

T = TypeVar("T")

tokens_app = typer.Typer(help="Bearer tokens of partners and analysts.", no_args_is_help=True)


def _with_store(action: Callable[[TokenStore], Awaitable[T]]) -> T:
    return with_engine(lambda engine: action(TokenStore(engine)), holding="the tokens")


@tokens_app.command("create")
def tokens_create(
    partner: str | None = typer.Option(None, "--partner", help="The partner id this token writes and reads for."),
    analyst: bool = typer.Option(False, "--analyst", help="A read-only token for every partner."),
    label: str | None = typer.Option(None, "--label", help="A note for `crm tokens list`."),
) -> None:
    """Print a new token alone on stdout. It is shown once; only its hash is stored."""
    import re

    if (partner is None) == (not analyst):
        raise fail("give exactly one of --partner ID or --analyst", ExitCode.USAGE)
    if partner is not None and not re.fullmatch(SLUG_PATTERN, partner):
        raise fail(f"{partner!r} is not a partner id (a lowercase slug)", ExitCode.USAGE)
    role: Role = "analyst" if analyst else "partner"
    token_id, token = _with_store(lambda store: store.create(role, partner, label))
    typer.secho(f"token {token_id} ({role}{' ' + partner if partner else ''}) created", err=True)
    typer.echo(token)


@tokens_app.command("list")
def tokens_list(as_json: bool = typer.Option(False, "--json", help="One JSON array of the tokens.")) -> None:
    """Every token: id, role, partner, created, revoked, label (tab-separated under a header line).
    Never the tokens themselves."""
    records = _with_store(lambda store: store.list())
    if as_json:
        rows = [
            {
                "id": r.id,
                "role": r.role,
                "partner_id": r.partner_id,
                "created_at": r.created_at.isoformat(),
                "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                "label": r.label,
            }
            for r in records
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    typer.echo("id\trole\tpartner\tcreated\trevoked\tlabel")
    for r in records:
        revoked = r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "active"
        typer.echo(
            f"{r.id}\t{r.role}\t{r.partner_id or '*'}\t{r.created_at.isoformat(timespec='seconds')}\t"
            f"{revoked}\t{r.label or ''}"
        )


@tokens_app.command("revoke")
def tokens_revoke(token_id: str = typer.Argument(..., help="The id shown by `crm tokens list`.")) -> None:
    """Revoke a token; running gateways refuse it within CRM_TOKEN_CACHE_SECONDS."""
    if not _with_store(lambda store: store.revoke(token_id)):
        raise fail(f"no active token {token_id!r}")
    typer.echo(f"revoked {token_id}")
