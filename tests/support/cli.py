"""`crm ...` in a child process, with a deployment's settings as its environment."""

import subprocess
import sys

from crm.infra.services import service_environment
from crm.settings import Settings


def run_crm(settings: Settings, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run `crm ARGS` (wide columns, so Rich tables do not wrap) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "crm.cli", *args],
        env=service_environment(settings, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
