"""Issue 17's way in: `crm up` in one process; in another, with no `CRM_*` variable set, the
commands it printed create a token and read the KPIs. Two processes, real Kafka and PostgreSQL
(started by `crm up` itself), a fresh project directory."""

import json
import queue
import signal
import stat
import subprocess
import threading
from pathlib import Path
from typing import IO

from crm.local.processes import free_port, log_tail
from crm.local.stack_file import read_stack_file, stack_file_path
from tests.support.cli import CRM, fresh_project, user_environment

READY = "Press Ctrl-C to stop."


def test_the_commands_crm_up_prints_create_a_token_and_read_the_kpis_from_another_process() -> None:
    with fresh_project() as project:
        # Only `crm up` is told anything: HTTP ports of its own (other runs share the machine).
        up_env = user_environment(CRM_GATEWAY_PORT=str(free_port()), CRM_QUERY_PORT=str(free_port()))
        up_log = project / "up.log"
        with open(up_log, "w") as log:
            up = subprocess.Popen([*CRM, "up"], cwd=project, env=up_env, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            printed = _lines_until_ready(up, up_log)
            commands = _pasteable(printed)
            assert any("tokens create --analyst" in c for c in commands), printed
            assert any(c.startswith("curl ") and "/v1/programme/kpis" in c for c in commands), printed

            stack_file = stack_file_path(project / ".crm")
            assert stat.S_IMODE(stack_file.stat().st_mode) == 0o600
            assert read_stack_file(stack_file)[0] == "running"

            # The second terminal: the same project directory, nothing exported.
            script = "set -euo pipefail\n" + "\n".join(c for c in commands if "TOKEN" in c)
            second = subprocess.run(
                ["bash", "-c", script], cwd=project, env=user_environment(), capture_output=True, text=True, timeout=180
            )
            assert second.returncode == 0, second.stderr
            kpis = json.loads(second.stdout)
            assert isinstance(kpis["partners"], dict) and "freshness" in kpis, kpis
            assert "token " in second.stderr and "(analyst) created" in second.stderr
        finally:
            up.send_signal(signal.SIGTERM)
            assert up.wait(timeout=120) == 0, log_tail(up_log)

        assert not stack_file.exists()
        after = subprocess.run(
            [*CRM, "tokens", "list"], cwd=project, env=user_environment(), capture_output=True, text=True, timeout=60
        )
        assert after.returncode == 3
        assert after.stderr.startswith("error: no stack is running; start it with `make up`")
        assert after.stderr.count("\n") == 1


def _lines_until_ready(up: "subprocess.Popen[str]", log: Path, timeout: float = 300) -> list[str]:
    """What `crm up` printed on stdout until it said it is ready (a deadline to fail by)."""
    assert up.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_forward, args=(up.stdout, lines), daemon=True).start()
    printed: list[str] = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"`crm up` not ready within {timeout:.0f}s:\n{log_tail(log)}") from None
        if line is None:
            raise AssertionError(f"`crm up` ended ({up.wait()}) before it was ready:\n{log_tail(log)}")
        printed.append(line.rstrip("\n"))
        if printed[-1] == READY:
            return printed


def _forward(stream: IO[str], lines: "queue.Queue[str | None]") -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _pasteable(printed: list[str]) -> list[str]:
    """The indented lines after "In another terminal": what a user copies."""
    start = next(i for i, line in enumerate(printed) if "In another terminal" in line)
    return [line.strip() for line in printed[start + 1 :] if line.startswith("  ")]
