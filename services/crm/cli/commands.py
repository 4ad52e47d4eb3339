"""`crm up | demo`, `crm schemas`, `crm projector run`, `crm db upgrade | roles`, `crm infra`: thin,
build settings, call the service, report."""

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from crm.cli.errors import fail
from crm.cli.settings import cli_settings, require_database, require_kafka
from crm.settings import Settings

if TYPE_CHECKING:
    from crm.local.pipeline import RunningPipeline

stack_app = typer.Typer()
schemas_app = typer.Typer(help="The generated contract files under schemas/.", no_args_is_help=True)
projector_app = typer.Typer(help="The projector service.", no_args_is_help=True)
db_app = typer.Typer(help="The read-model database.", no_args_is_help=True)
infra_app = typer.Typer(help="The embedded Kafka and PostgreSQL.", no_args_is_help=True)


@schemas_app.command("generate")
def schemas_generate(directory: Path = typer.Option(Path("schemas"), help="Where to write the files.")) -> None:
    """Write schemas/v<N>/<EventType>.json per contract version and schemas/asyncapi.yaml from the models.

    Exits 1, writing nothing, when a released version's files would change (they are frozen).
    """
    from crm.contract.schema_export import FrozenSchemaError, write_schema_files

    try:
        written = write_schema_files(directory)
    except FrozenSchemaError as error:
        raise fail(str(error)) from None
    for path in written:
        typer.echo(path)


@schemas_app.command("check")
def schemas_check(directory: Path = typer.Option(Path("schemas"))) -> None:
    """Exit 1 when the checked-in files differ from the models or a version breaks the one before it."""
    from crm.contract.schema_export import committed_schema_files, incompatibilities, stale_schema_files

    stale = stale_schema_files(directory)
    if stale:
        typer.secho(f"out of date: {', '.join(stale)} — run `crm schemas generate`", err=True, fg="red")
        raise typer.Exit(1)
    breaking = incompatibilities(committed_schema_files(directory))
    if breaking:
        typer.secho("not backward compatible:\n  " + "\n  ".join(breaking), err=True, fg="red")
        raise typer.Exit(1)
    typer.echo("schemas are up to date, each version backward compatible with the one before")


@projector_app.command("run")
def projector_run() -> None:
    """Run a projector worker on the Kafka and PostgreSQL of the settings (or of `crm up`)."""
    from crm.projector.bootstrap import run_projector

    settings = cli_settings()
    require_kafka(settings)
    require_database(settings)
    raise typer.Exit(run_projector(settings))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to CRM_DATABASE_URL (or the database of `crm up`): the one-shot
    step of a deployment, before the services start, as the role that owns the schema. Runs under
    an advisory lock, so two at once take turns and the second finds nothing to do."""
    import asyncio

    from crm.db.migrate import schema_revision, upgrade_database

    database_url = require_database(cli_settings(), "the schema to migrate")
    upgrade_database(database_url)
    revision = asyncio.run(schema_revision(database_url))
    typer.echo(f"database schema is up to date (revision {', '.join(sorted(revision.applied))})")


@db_app.command("roles")
def db_roles(
    apply: bool = typer.Option(
        False,
        "--apply",
        help="Create the group roles (as CRM_DATABASE_ADMIN_URL) and grant their rights (as CRM_DATABASE_URL, "
        "the schema's owner) instead of printing the SQL.",
    ),
) -> None:
    """The services' least-privilege group roles (crm_gateway, crm_projector, crm_query, crm_alerts):
    print the SQL that creates them and grants their rights, or apply it. Make each service's login
    a member (`GRANT crm_gateway TO gateway_login`); `crm db upgrade` keeps their rights current."""
    import asyncio

    from crm.db.roles import create_service_roles, grant_rights_now, layout_sql

    if not apply:
        typer.echo(layout_sql(), nl=False)
        return
    settings = cli_settings()
    owner = require_database(settings, "the schema's owner (the migration role)")
    asyncio.run(create_service_roles(settings.database_admin_url or owner))
    granted = asyncio.run(grant_rights_now(owner))
    typer.echo(f"service roles ready: {', '.join(granted)}")


@stack_app.command("demo")
def demo() -> None:
    """Replay the 4SmartGrowth programme through a stack of its own (under .crm/demo/), freeze its
    reports and check every figure against the expected ones; exit 0 only if all match."""
    from crm.demo.runner import run_demo

    raise typer.Exit(run_demo(Settings()))


@stack_app.command("up")
def up() -> None:
    """Run the whole stack in the foreground until Ctrl-C; print the commands to try next. While it
    runs, other `crm` commands find its Kafka and PostgreSQL through .crm/stack.json."""
    from crm.local.pipeline import run_stack_in_foreground

    run_stack_in_foreground(Settings(), _print_next_steps)


def _print_next_steps(pipeline: "RunningPipeline", published: bool) -> None:
    """Where everything is, and commands to paste into a second terminal (stdout, at once)."""
    from crm.local.pipeline import http_url
    from crm.local.servers import without_password
    from crm.local.stack_file import stack_file_path

    live = pipeline.settings
    gateway, query = http_url(pipeline, "gateway"), http_url(pipeline, "query")
    lines = [
        f"Kafka:      {live.kafka_bootstrap}",
        f"PostgreSQL: {without_password(live.database_url or '')}",
        *([f"Gateway:    {gateway}/docs"] if gateway else []),
        *([f"Query API:  {query}/docs", f"Dashboard:  {query}/"] if query else []),
        *[
            f"{name + ':':<11} http://{live.operations_host}:{port}/metrics"
            for name, port in (
                ("Projector", live.projector_operations_port),
                ("Alerts", live.alerts_operations_port),
            )
            if port is not None and name.lower() in pipeline.services
        ],
        f"Logs:       {live.state_dir / 'logs'}",
        "",
    ]
    stack_file = stack_file_path(live.state_dir)
    if published:
        crm = _crm_command()
        lines += [
            f"While this runs, `crm` commands find it through {stack_file}. In another terminal, in {Path.cwd()}:",
            "",
            f'  TOKEN="$({crm} tokens create --analyst --label first-look)"',
            *([f'  curl -s -H "Authorization: Bearer $TOKEN" {query}/v1/programme/kpis'] if query else []),
            f"  {crm} status",
            f"  {crm} --help",
            "",
        ]
    else:
        lines += [f"{stack_file} belongs to another running stack: `crm` commands use that one, not this.", ""]
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def _crm_command() -> str:
    """How to run this `crm`: the console script beside this Python (relative to the current
    directory when inside it), else `python -m crm.cli`."""
    script = Path(sys.executable).parent / "crm"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m crm.cli"
    try:
        return shlex.quote(str(script.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(script))


@infra_app.command("prepare")
def infra_prepare() -> None:
    """Resolve the Kafka broker's jars and find the PostgreSQL binaries (what `make` needs once)."""
    from crm.local.kafka_broker import resolve_classpath
    from crm.local.postgres_server import find_postgres_bindir

    settings = Settings()
    if settings.kafka_bootstrap is None:
        jars = resolve_classpath(settings.kafka_dir).count(":") + 1
        typer.echo(f"kafka: {jars} jars resolved from infra/kafka/pom.xml")
    if settings.database_url is None:
        typer.echo(f"postgresql: server binaries in {find_postgres_bindir()}")


@infra_app.command("setup")
def infra_setup() -> None:
    """Create the topics and apply the migrations on CRM_KAFKA_BOOTSTRAP / CRM_DATABASE_URL."""
    from crm.local.pipeline import prepare_infrastructure

    settings = cli_settings()
    require_kafka(settings)
    require_database(settings, "the schema to migrate")
    prepare_infrastructure(settings)
    typer.echo("topics and database schema are ready")
