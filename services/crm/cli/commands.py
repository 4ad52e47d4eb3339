"""The sub-commands; thin: build settings, call the service, report."""

from pathlib import Path

import typer

from crm.cli import alerts as alerts_commands  # noqa: F401 - registers `crm alerts ...`
from crm.cli.main import app, db_app, friendly_errors, infra_app, projector_app, schemas_app
from crm.settings import Settings


@schemas_app.command("generate")
def schemas_generate(directory: Path = typer.Option(Path("schemas"), help="Where to write the files.")) -> None:
    """Write schemas/v<N>/<EventType>.json per contract version and schemas/asyncapi.yaml from the models.

    Exits 1, writing nothing, when a released version's files would change (they are frozen).
    """
    from crm.contract.schema_export import FrozenSchemaError, write_schema_files

    try:
        written = write_schema_files(directory)
    except FrozenSchemaError as error:
        typer.secho(f"error: {error}", err=True, fg="red")
        raise typer.Exit(1) from None
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
@friendly_errors
def projector_run() -> None:
    """Run a projector worker (needs CRM_KAFKA_BOOTSTRAP and CRM_DATABASE_URL)."""
    from crm.projector.bootstrap import run_projector

    raise typer.Exit(run_projector(Settings()))


@db_app.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Apply the Alembic migrations to CRM_DATABASE_URL."""
    from crm.db.migrate import upgrade_database
    from crm.infra.errors import InfrastructureError

    settings = Settings()
    if not settings.database_url:
        raise InfrastructureError("Set CRM_DATABASE_URL to the database to migrate.")
    upgrade_database(settings.database_url)
    typer.echo("database schema is up to date")


@app.command("demo")
@friendly_errors
def demo() -> None:
    """Start everything, send one event of each type through the pipeline, show what landed."""
    from crm.demo.runner import run_demo

    raise typer.Exit(run_demo(Settings()))


@app.command("up")
@friendly_errors
def up() -> None:
    """Run the whole stack in the foreground until Ctrl-C."""
    from crm.pipeline import run_stack_in_foreground

    run_stack_in_foreground(Settings())


@infra_app.command("prepare")
@friendly_errors
def infra_prepare() -> None:
    """Resolve the Kafka broker's jars and find the PostgreSQL binaries (what `make` needs once)."""
    from crm.infra.kafka_broker import resolve_classpath
    from crm.infra.postgres_server import find_postgres_bindir

    settings = Settings()
    if settings.kafka_bootstrap is None:
        jars = resolve_classpath(settings.kafka_dir).count(":") + 1
        typer.echo(f"kafka: {jars} jars resolved from infra/kafka/pom.xml")
    if settings.database_url is None:
        typer.echo(f"postgresql: server binaries in {find_postgres_bindir()}")


@infra_app.command("setup")
@friendly_errors
def infra_setup() -> None:
    """Create the topics and apply the migrations on CRM_KAFKA_BOOTSTRAP / CRM_DATABASE_URL."""
    from crm.infra.errors import InfrastructureError
    from crm.pipeline import prepare_infrastructure

    settings = Settings()
    if not settings.kafka_bootstrap or not settings.database_url:
        raise InfrastructureError("Set CRM_KAFKA_BOOTSTRAP and CRM_DATABASE_URL to the servers to prepare.")
    prepare_infrastructure(settings)
    typer.echo("topics and database schema are ready")
