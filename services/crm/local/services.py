"""Run the project's own services (projector, gateway, ...) as separate child processes."""

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from pydantic import SecretStr

from crm.local.processes import spawn_server, stop_process
from crm.settings import Settings

log = structlog.get_logger(__name__)


def service_environment(settings: Settings, **overrides: str) -> dict[str, str]:
    """This process's environment plus every setting as a CRM_* variable, but the database
    administrator's URL: no service needs more than its own role."""
    env = dict(os.environ)
    env.pop("CRM_DATABASE_ADMIN_URL", None)
    for name, value in settings.model_dump(mode="json", exclude={"database_admin_url"}).items():
        if isinstance(secret := getattr(settings, name), SecretStr):  # dumped as stars
            value = secret.get_secret_value()
        if value is not None:
            # A mapping (CRM_ALERTS_THRESHOLDS, CRM_CONTRACT_SUNSETS) is read back as JSON.
            env[f"CRM_{name.upper()}"] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    env.setdefault("CRM_LOG_FORMAT", "json")
    env.update(overrides)
    return env


@dataclass
class ServiceProcess:
    """`crm <args>` in a child process, logging to `log_path`."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> "ServiceProcess":
        argv = [sys.executable, "-m", "crm.cli", *self.args]
        self._process = spawn_server(argv, self.log_path, env=self.env)
        log.info("service.started", service=self.name, pid=self._process.pid, log=str(self.log_path))
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def exit_code(self) -> int | None:
        """The exit status once the process has ended by itself; None while it runs (or never ran)."""
        return None if self._process is None else self._process.poll()

    def kill(self) -> None:
        """SIGKILL: a crash, for tests of crash safety."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds. Returns the exit code (None: not running)."""
        if self._process is None:
            return None
        code = stop_process(self._process, signal.SIGTERM, timeout)
        log.info("service.stopped", service=self.name, exit_code=code)
        self._process = None
        return code

    def __enter__(self) -> "ServiceProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
