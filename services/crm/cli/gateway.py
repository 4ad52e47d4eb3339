"""`crm gateway run`."""

import typer

from crm.cli.settings import cli_settings, require_database, require_kafka

gateway_app = typer.Typer(help="The ingestion gateway (POST /v1/events).", no_args_is_help=True)


@gateway_app.command("run")
def gateway_run() -> None:
    """Serve the gateway on CRM_BIND_HOST:CRM_GATEWAY_PORT (on the Kafka and PostgreSQL of the
    settings, or of `crm up`)."""
    from crm.gateway.bootstrap import run_gateway

    settings = cli_settings()
    require_kafka(settings)
    require_database(settings, "the tokens")
    run_gateway(settings)
