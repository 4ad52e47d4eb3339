"""`crm sql grant` / `crm sql revoke`: PostgreSQL logins for partners' analysts (docs/sql-access.md)."""

import asyncio

import typer
from sqlalchemy.engine import make_url

from crm.cli.errors import ExitCode, fail
from crm.cli.settings import cli_settings, require_database
from crm.settings import Settings

sql_app = typer.Typer(help="SQL access to the read models, one PostgreSQL login per partner.", no_args_is_help=True)


def _admin_url(settings: Settings) -> str:
    """Creating and dropping roles needs CREATEROLE: the administrator's URL if there is one (the
    embedded server's superuser while `crm up` runs)."""
    if settings.database_admin_url:
        return settings.database_admin_url
    return require_database(settings, "the read models (or CRM_DATABASE_ADMIN_URL to a role that may create roles)")


@sql_app.command("grant")
def sql_grant(
    partner: str = typer.Option(..., "--partner", help="The partner whose rows the login may read"),
    role: str | None = typer.Option(None, "--role", help="Role name (default crm_partner_<partner>)"),
) -> None:
    """Create a LOGIN role that sees only that partner's rows; print its connection URL (password included) once."""
    from crm.db.engine import create_engine
    from crm.query.sql_access import SqlAccessError, grant_partner_login

    settings = cli_settings()
    engine = create_engine(_admin_url(settings), pool_size=1)

    async def grant() -> str:
        try:
            login = await grant_partner_login(engine, partner, role)
        finally:
            await engine.dispose()
        # The partner's URL keeps sslmode and sslrootcert, not the services' client certificate.
        base = make_url(settings.database_url or _admin_url(settings))
        return login.dsn(base.difference_update_query(("sslcert", "sslkey", "sslpassword")).render_as_string(False))

    try:
        dsn = asyncio.run(grant())
    except SqlAccessError as error:
        raise fail(str(error)) from None
    typer.echo("The password is shown this once; the views are in schema `reporting`.", err=True)
    typer.echo(dsn)


@sql_app.command("revoke")
def sql_revoke(
    partner: str | None = typer.Option(None, "--partner", help="Revoke the default role of this partner"),
    role: str | None = typer.Option(None, "--role", help="Revoke this role"),
) -> None:
    """Drop a partner's login role."""
    from crm.db.engine import create_engine
    from crm.query.sql_access import SqlAccessError, default_role_name, revoke_partner_login

    if (partner is None) == (role is None):
        raise fail("give --partner or --role", ExitCode.USAGE)
    name = role or default_role_name(partner or "")
    settings = cli_settings()
    engine = create_engine(_admin_url(settings), pool_size=1)

    async def revoke() -> bool:
        try:
            return await revoke_partner_login(engine, name)
        finally:
            await engine.dispose()

    try:
        revoked = asyncio.run(revoke())
    except SqlAccessError as error:
        raise fail(str(error)) from None
    if not revoked:
        raise fail(f"no role {name}")
    typer.echo(f"revoked {name}")
