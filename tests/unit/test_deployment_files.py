"""docker-compose.yml cannot run here; check what can be checked: settings and commands exist."""

from pathlib import Path

import yaml
from typer.testing import CliRunner

from crm.cli.main import app
from crm.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_crm_variable_in_compose_is_a_setting() -> None:
    fields = {f"CRM_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose()["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("CRM_"):
                assert variable in fields, f"{name}: {variable} is not a setting"


def test_every_service_command_is_a_crm_command() -> None:

    runner = CliRunner()
    for name, service in compose()["services"].items():
        if "build" in service:
            result = runner.invoke(app, [*service["command"], "--help"])
            assert result.exit_code == 0, f"{name}: `crm {' '.join(service['command'])}` is not a command"


def test_compose_runs_kafka_4_in_kraft_mode_and_postgres() -> None:
    services = compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["postgres"]["image"].startswith("postgres:")
