"""`crm gateway run`."""

import typer

from crm.cli.main import app, friendly_errors
from crm.settings import Settings

gateway_app = typer.Typer(help="The ingestion gateway (POST /v1/events).", no_args_is_help=True)
app.add_typer(gateway_app, name="gateway")


@gateway_app.command("run")
@friendly_errors
def gateway_run() -> None:
    """Serve the gateway on CRM_BIND_HOST:CRM_GATEWAY_PORT (needs CRM_KAFKA_BOOTSTRAP and CRM_DATABASE_URL)."""
    from crm.gateway.bootstrap import run_gateway

    run_gateway(Settings())
