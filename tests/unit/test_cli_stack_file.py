"""The stack file of `crm up`: written for its owner only, trusted only while its run is alive,
and used by the CLI only for what the settings leave unset."""

import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm.cli.settings import cli_settings, require_database, require_kafka
from crm.errors import InfrastructureError
from crm.local.stack_file import StackFile, published_stack, read_stack_file, stack_file_path, write_stack_file


@pytest.fixture
def listening() -> Iterator[list[int]]:
    """Two ports that accept connections, standing in for Kafka and PostgreSQL."""
    sockets = []
    for _ in range(2):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        sockets.append(server)
    yield [s.getsockname()[1] for s in sockets]
    for server in sockets:
        server.close()


def stack(ports: list[int], pid: int | None = None) -> StackFile:
    kafka, postgres = ports
    return StackFile(
        pid=os.getpid() if pid is None else pid,
        started_at="2026-01-01T00:00:00+00:00",
        kafka_bootstrap=f"127.0.0.1:{kafka}",
        database_url=f"postgresql+asyncpg://crm_app:secret@127.0.0.1:{postgres}/crm",
        database_admin_url=f"postgresql+asyncpg://postgres:root@127.0.0.1:{postgres}/crm",
        gateway_url="http://127.0.0.1:8000",
        query_url="http://127.0.0.1:8001",
    )


def dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project directory as the current one, with no CRM_* setting."""
    for name in list(os.environ):
        if name.startswith("CRM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_file_is_readable_by_its_owner_only_and_read_back_while_its_run_lives(
    tmp_path: Path, listening: list[int]
) -> None:
    path = stack_file_path(tmp_path)
    write_stack_file(path, stack(listening))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_stack_file(path) == ("running", stack(listening))


@pytest.mark.parametrize("why", ["process gone", "servers closed", "not json"])
def test_a_file_left_by_a_killed_run_is_stale(tmp_path: Path, listening: list[int], why: str) -> None:
    path = stack_file_path(tmp_path)
    if why == "process gone":
        write_stack_file(path, stack(listening, pid=dead_pid()))
    elif why == "servers closed":
        write_stack_file(path, stack([closed_port(), listening[1]]))
    else:
        path.write_text('{"pid": ')
    assert read_stack_file(path)[0] == "stale"
    assert read_stack_file(tmp_path / "none.json") == ("absent", None)


def test_published_removes_its_file_and_leaves_another_running_stacks_alone(
    tmp_path: Path, listening: list[int]
) -> None:
    path = stack_file_path(tmp_path)
    with published_stack(path, stack(listening)) as published:
        assert published and read_stack_file(path)[0] == "running"
    assert not path.exists()

    other = stack(listening, pid=os.getppid())
    write_stack_file(path, other)
    with published_stack(path, stack(listening)) as published:
        assert not published
    assert read_stack_file(path) == ("running", other)


def test_unset_settings_come_from_the_running_stack(project: Path, listening: list[int]) -> None:
    write_stack_file(stack_file_path(project / ".crm"), stack(listening))
    settings = cli_settings()
    assert settings.kafka_bootstrap == f"127.0.0.1:{listening[0]}"
    assert settings.database_url == stack(listening).database_url
    assert settings.database_admin_url == stack(listening).database_admin_url


def test_explicit_settings_win_over_the_stack_file(
    project: Path, listening: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_stack_file(stack_file_path(project / ".crm"), stack(listening))
    monkeypatch.setenv("CRM_DATABASE_URL", "postgresql+asyncpg://me@db.example:5432/crm")
    settings = cli_settings()
    assert settings.database_url == "postgresql+asyncpg://me@db.example:5432/crm"
    assert settings.database_admin_url is None  # never the embedded superuser for another database
    assert settings.kafka_bootstrap == f"127.0.0.1:{listening[0]}"


def test_a_stale_file_is_not_trusted_and_the_error_says_how_to_start_a_stack(
    project: Path, listening: list[int]
) -> None:
    write_stack_file(stack_file_path(project / ".crm"), stack(listening, pid=dead_pid()))
    settings = cli_settings()
    assert settings.database_url is None and settings.kafka_bootstrap is None
    with pytest.raises(InfrastructureError, match=r"no stack is running \(.*stale\); start it with `make up`"):
        require_database(settings, "the tokens")
    with pytest.raises(InfrastructureError, match="CRM_KAFKA_BOOTSTRAP"):
        require_kafka(settings)
