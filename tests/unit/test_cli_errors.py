"""Every failure of a `crm` command is one line and a documented exit code (crm.cli.errors)."""

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from crm.cli.errors import ExitCode, explain
from crm.cli.main import app, package_version
from crm.errors import InfrastructureError
from crm.settings import Settings


def settings_error() -> ValidationError:
    try:
        Settings(gateway_port=99999)
    except ValidationError as error:
        return error
    raise AssertionError("a port past 65535 was accepted")


def wrapped(error: BaseException) -> BaseException:
    try:
        try:
            raise error
        except BaseException as cause:
            raise RuntimeError("while doing something") from cause
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "code", "says"),
    [
        (InfrastructureError("no stack is running"), ExitCode.UNREACHABLE, "no stack is running"),
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"), ExitCode.UNREACHABLE, "cannot connect"),
        (OSError("Multiple exceptions: [Errno 111] Connect call failed"), ExitCode.UNREACHABLE, "cannot connect"),
        (KafkaConnectionError("Unable to bootstrap from [...]"), ExitCode.UNREACHABLE, "Kafka is unreachable"),
        (
            OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused")),
            ExitCode.UNREACHABLE,
            "cannot connect",
        ),
        (asyncpg.InvalidPasswordError("password authentication failed"), ExitCode.UNREACHABLE, "refused the login"),
        (wrapped(KafkaConnectionError("Unable to bootstrap")), ExitCode.UNREACHABLE, "Kafka is unreachable"),
        (FileNotFoundError(2, "No such file or directory", "feed.csv"), ExitCode.FAILED, "feed.csv"),
        (PermissionError(13, "Permission denied", "/root/x"), ExitCode.FAILED, "Permission denied: /root/x"),
        (settings_error(), ExitCode.USAGE, "invalid setting CRM_GATEWAY_PORT: Input should be less than"),
        (asyncpg.UndefinedTableError('relation "api_tokens" does not exist'), ExitCode.FAILED, "crm db upgrade"),
        (ValueError("a bug\nwith a second line"), ExitCode.FAILED, "ValueError: a bug (`crm --verbose"),
    ],
)
def test_each_failure_is_one_line_and_its_exit_code(error: BaseException, code: ExitCode, says: str) -> None:
    failure = explain(error)
    assert failure.code == code
    assert says in failure.message
    assert "\n" not in failure.message


def test_a_value_outside_its_choices_is_a_usage_error() -> None:
    runner = CliRunner()
    for args in (
        ["status", "--format", "yaml"],
        ["report", "export", "-p", "x", "--period", "1", "-f", "yaml", "-o", "x"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == ExitCode.USAGE, result.output
        assert "'yaml' is not one of" in result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"crm {package_version()}\n"
    assert package_version() != "unknown"


def test_the_export_formats_are_the_exporters() -> None:
    from crm.cli.reports import ExportFormat
    from crm.reports.exports import FORMATS

    assert [f.value for f in ExportFormat] == list(FORMATS)


def test_a_command_failing_prints_one_line_and_with_verbose_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from crm.local.processes import free_port

    monkeypatch.setenv("CRM_DATABASE_URL", f"postgresql+asyncpg://crm@127.0.0.1:{free_port()}/crm")
    runner = CliRunner()
    quiet = runner.invoke(app, ["tokens", "list"])
    assert quiet.exit_code == ExitCode.UNREACHABLE
    assert quiet.output.startswith("error: cannot connect to PostgreSQL") and quiet.output.count("\n") == 1
    verbose = runner.invoke(app, ["--verbose", "tokens", "list"])
    assert verbose.exit_code == ExitCode.UNREACHABLE
    assert "Traceback (most recent call last)" in verbose.output and "ConnectionRefusedError" in verbose.output
    assert verbose.output.splitlines()[-1] == quiet.output.strip()
