"""`crm ...` in a child process, with a deployment's settings as its environment, or as a user
would run it: in a project directory, with no `CRM_*` variable set."""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crm.local.paths import project_root
from crm.local.services import service_environment
from crm.settings import Settings

CRM = [sys.executable, "-m", "crm.cli"]


def run_crm(settings: Settings, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run `crm ARGS` (wide columns, so Rich tables do not wrap) and capture its output."""
    return subprocess.run(
        [*CRM, *args],
        env=service_environment(settings, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def user_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any `CRM_*` variable, the checkout's code first on the
    path (as the editable install has it, whatever the current directory), plus `variables`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CRM_")}
    root = project_root()
    env["PYTHONPATH"] = os.pathsep.join([str(root / "services"), str(root)])
    env["COLUMNS"] = "200"
    return env | variables


@contextmanager
def fresh_project() -> Iterator[Path]:
    """An empty directory to run `crm` in, its state dir (`.crm/`) empty but for the Kafka
    broker's resolved classpath (what `make install` leaves). Under the checkout's `.crm/`, which
    the embedded PostgreSQL's user can reach (a pytest tmp_path is private to root)."""
    directory = project_root() / ".crm" / f"project-{uuid.uuid4().hex[:8]}"
    kafka_dir = directory / ".crm" / "kafka"
    kafka_dir.mkdir(parents=True)
    for classpath in (project_root() / ".crm" / "kafka").glob("classpath-*.txt"):
        shutil.copy(classpath, kafka_dir / classpath.name)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
