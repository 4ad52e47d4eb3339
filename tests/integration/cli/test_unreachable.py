"""Every `crm` command that needs Kafka or PostgreSQL, with them away, prints one line on stderr
and exits 3 (docs/cli.md "Exit codes"): pointed at closed ports, and with no stack running and
nothing set (then the line says how to start one)."""

import subprocess
from pathlib import Path

import pytest

from crm.local.processes import free_port
from tests.support.cli import CRM, user_environment

PROGRAMME = str(Path(__file__).resolve().parents[3] / "scenario" / "4smartgrowth" / "programme.toml")
ALERT = "00000000-0000-0000-0000-000000000001"

# Each command with its arguments, and the server it meets first when both are away.
COMMANDS: dict[str, tuple[list[str], str]] = {
    "tokens create": (["tokens", "create", "--analyst"], "PostgreSQL"),
    "tokens list": (["tokens", "list"], "PostgreSQL"),
    "tokens list --json": (["tokens", "list", "--json"], "PostgreSQL"),
    "tokens revoke": (["tokens", "revoke", "0123456789abcdef"], "PostgreSQL"),
    "alerts list": (["alerts", "list"], "PostgreSQL"),
    "alerts ack": (["alerts", "ack", ALERT], "PostgreSQL"),
    "alerts snooze": (["alerts", "snooze", "tehnopol", "p-1", "--until", "2030-01-01"], "PostgreSQL"),
    "alerts webhook": (["alerts", "webhook", "tehnopol", "http://127.0.0.1:9/hook", "--secret", "s"], "PostgreSQL"),
    "programme show": (["programme", "show"], "PostgreSQL"),
    "programme show ID": (["programme", "show", "4smartgrowth", "--json"], "PostgreSQL"),
    "programme apply": (["programme", "apply", PROGRAMME], "PostgreSQL"),
    "report status": (["report", "status", "-p", "4smartgrowth"], "PostgreSQL"),
    "report show": (["report", "show", "-p", "4smartgrowth", "--period", "1"], "PostgreSQL"),
    "report freeze": (["report", "freeze", "-p", "4smartgrowth", "--period", "1"], "PostgreSQL"),
    "report reopen": (["report", "reopen", "-p", "4smartgrowth", "--period", "1"], "PostgreSQL"),
    "report restatements": (["report", "restatements", "-p", "4smartgrowth", "--period", "1"], "PostgreSQL"),
    "report export": (["report", "export", "-p", "4smartgrowth", "--period", "1", "-o", "r.json"], "PostgreSQL"),
    "sql grant": (["sql", "grant", "--partner", "tehnopol"], "PostgreSQL"),
    "sql revoke": (["sql", "revoke", "--partner", "tehnopol"], "PostgreSQL"),
    "db upgrade": (["db", "upgrade"], "PostgreSQL"),
    "import": (["import", "history.csv", "--partner", "tehnopol"], "PostgreSQL"),
    "status": (["status"], "Kafka"),
    "status --json": (["status", "--json"], "Kafka"),
    "dlq list": (["dlq", "list", "--json"], "Kafka"),
    "dlq replay": (["dlq", "replay", "--dry-run"], "Kafka"),
    "projections rebuild": (["projections", "rebuild"], "PostgreSQL"),
    "infra setup": (["infra", "setup"], "Kafka"),
}
# Long-running services wait for what is away (the gateway answers 503 meanwhile): only
# without any stack do they stop at once.
SERVICES = {
    "gateway run": ["gateway", "run"],
    "query run": ["query", "run"],
    "projector run": ["projector", "run"],
    "alerts run": ["alerts", "run"],
}


def crm(directory: Path, args: list[str], **variables: str) -> subprocess.CompletedProcess[str]:
    (directory / "history.csv").write_text("event_type,occurred_at,sme_id,pilot_id\n")
    return subprocess.run(
        [*CRM, *args], cwd=directory, env=user_environment(**variables), capture_output=True, text=True, timeout=120
    )


def assert_one_line_and_exit_3(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""
    return result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_with_kafka_and_postgresql_away_each_command_says_so_in_one_line_and_exits_3(
    command: str, tmp_path: Path
) -> None:
    args, first_met = COMMANDS[command]
    closed = free_port()  # bound and released: nobody listens there
    line = assert_one_line_and_exit_3(
        crm(
            tmp_path,
            args,
            CRM_DATABASE_URL=f"postgresql+asyncpg://crm_app:secret@127.0.0.1:{closed}/crm",
            CRM_KAFKA_BOOTSTRAP=f"127.0.0.1:{closed}",
        )
    )
    assert first_met in line and f"{closed}" in line, line


@pytest.mark.parametrize("command", [*COMMANDS, *SERVICES])
def test_with_no_stack_running_each_command_says_how_to_start_one(command: str, tmp_path: Path) -> None:
    args = COMMANDS[command][0] if command in COMMANDS else SERVICES[command]
    line = assert_one_line_and_exit_3(crm(tmp_path, args, CRM_STATE_DIR=str(tmp_path / ".crm")))
    assert line.startswith("error: no stack is running; start it with `make up`"), line
