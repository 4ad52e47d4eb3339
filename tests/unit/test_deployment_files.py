"""docker-compose.yml and compose.cluster.yml cannot run here; check what can be checked: every
`CRM_*` variable is a setting, every command (and health check) of the image is a `crm` command,
Kafka keeps its data on the volume, the migration runs first, nothing is published beyond
loopback, and the cluster file is what it says (three brokers, SASL, replication 3)."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from crm.cli.main import app
from crm.settings import Settings
from crm.settings_reference import OUTSIDE_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ["docker-compose.yml", "compose.cluster.yml"]
IMAGE = "smartgrowth-crm:local"
LONG_RUNNING = {"projector", "alerts", "gateway", "query"}


def services(name: str) -> dict[str, dict[str, Any]]:
    document = yaml.safe_load((ROOT / name).read_text())
    return dict(document["services"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment`, written as a mapping or as a list of `NAME=value`."""
    variables = service.get("environment", {})
    if isinstance(variables, list):
        return dict(entry.partition("=")[::2] for entry in variables)
    return {name: str(value) for name, value in variables.items()}


def crm_services(name: str) -> dict[str, dict[str, Any]]:
    return {key: service for key, service in services(name).items() if service.get("image") == IMAGE}


def kafka_services(name: str) -> dict[str, dict[str, Any]]:
    return {key: s for key, s in services(name).items() if str(s.get("image", "")).startswith("apache/kafka:")}


@pytest.mark.parametrize("compose", COMPOSE_FILES)
def test_every_crm_variable_is_a_setting(compose: str) -> None:
    known = {f"CRM_{field.upper()}" for field in Settings.model_fields} | set(OUTSIDE_SETTINGS)
    found = {(key, variable) for key, s in services(compose).items() for variable in environment(s)}
    unknown = [f"{key}: {variable}" for key, variable in sorted(found) if variable.startswith("CRM_")]
    assert [entry for entry in unknown if entry.split(": ")[1] not in known] == []
    assert len(unknown) >= 4 * len(LONG_RUNNING)  # the check saw the services' settings


@pytest.mark.parametrize("compose", COMPOSE_FILES)
def test_every_command_of_the_image_is_a_crm_command(compose: str) -> None:
    runner = CliRunner()
    commands = {}
    for key, service in crm_services(compose).items():
        commands[f"{key} command"] = service["command"]
        test = service.get("healthcheck", {}).get("test", [])
        if test[:2] == ["CMD", "crm"]:
            commands[f"{key} health check"] = test[2:]
    assert {"migrate command", "projector command", "alerts command"} <= set(commands)
    for what, command in commands.items():
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, f"{compose} {what}: `crm {' '.join(command)}` is not a command"


@pytest.mark.parametrize("compose", COMPOSE_FILES)
def test_services_start_after_the_migration_and_each_has_a_health_check(compose: str) -> None:
    every = services(compose)
    crm = crm_services(compose)
    assert set(crm) == LONG_RUNNING | {"migrate"}
    assert crm["migrate"]["command"] == ["db", "upgrade"] and crm["migrate"]["restart"] == "no"
    for key in LONG_RUNNING:
        assert crm[key]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, key
    for key, service in every.items():
        if key != "migrate":
            assert service["healthcheck"]["test"], key


@pytest.mark.parametrize("compose", COMPOSE_FILES)
def test_http_health_checks_ask_the_port_the_service_listens_on(compose: str) -> None:
    for key, setting in (("gateway", "CRM_GATEWAY_PORT"), ("query", "CRM_QUERY_PORT")):
        service = crm_services(compose)[key]
        port = environment(service)[setting]
        assert f"http://127.0.0.1:{port}/health" in " ".join(service["healthcheck"]["test"]), key
        assert environment(service)["CRM_BIND_HOST"] == "0.0.0.0"  # reachable through the published port
        assert [p.rsplit(":", 1)[1] for p in service["ports"]] == [port], key


@pytest.mark.parametrize("compose", COMPOSE_FILES)
def test_only_loopback_ports_and_none_of_kafka_or_postgres(compose: str) -> None:
    for key, service in services(compose).items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{key}: {port} is published beyond loopback"
        if key.startswith(("kafka", "postgres")):
            assert "ports" not in service, f"{key} publishes a host port (9092 / 5432 clash with local servers)"


@pytest.mark.parametrize("compose", COMPOSE_FILES)
def test_kafka_keeps_its_log_on_the_volume(compose: str) -> None:
    brokers = kafka_services(compose)
    assert brokers
    for key, broker in brokers.items():
        log_dirs = environment(broker)["KAFKA_LOG_DIRS"]
        mounted = {volume.split(":")[1] for volume in broker["volumes"]}
        assert log_dirs in mounted, f"{key}: log.dirs {log_dirs} is not on a volume ({mounted})"
        assert environment(broker)["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", key


def test_compose_runs_kafka_4_in_kraft_mode_and_postgres() -> None:
    every = services("docker-compose.yml")
    assert every["kafka"]["image"].startswith("apache/kafka:4.")
    assert every["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert every["postgres"]["image"].startswith("postgres:")
    assert every["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]


def test_the_cluster_has_three_sasl_brokers_replicating_three_times() -> None:
    brokers = {key: environment(broker) for key, broker in kafka_services("compose.cluster.yml").items()}
    assert len(brokers) == 3
    assert len({env["KAFKA_NODE_ID"] for env in brokers.values()}) == 3
    assert len({env["CLUSTER_ID"] for env in brokers.values()}) == 1
    bootstrap = environment(crm_services("compose.cluster.yml")["projector"])["CRM_KAFKA_BOOTSTRAP"]
    for key, env in brokers.items():
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert sorted(v.split("@")[1].split(":")[0] for v in voters) == sorted(brokers), key
        protocols = dict(entry.split(":") for entry in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        advertised = re.findall(r"(\w+)://([\w-]+:\d+)", env["KAFKA_ADVERTISED_LISTENERS"])
        assert advertised and all(protocols[name].startswith("SASL_") for name, _ in advertised), key
        assert protocols[env["KAFKA_INTER_BROKER_LISTENER_NAME"]].startswith("SASL_"), key
        assert env["KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL"] in env["KAFKA_SASL_ENABLED_MECHANISMS"].split(",")
        assert "java.security.auth.login.config=" in env["KAFKA_OPTS"], key
        assert {address for _, address in advertised} <= set(bootstrap.split(",")), key
        for setting in ("DEFAULT_REPLICATION_FACTOR", "OFFSETS_TOPIC_REPLICATION_FACTOR"):
            assert env[f"KAFKA_{setting}"] == "3", (key, setting)
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2", key
