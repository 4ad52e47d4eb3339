"""Where a running local stack is: `<state dir>/stack.json`, written by `crm up` and `crm demo`.

Other `crm` commands read it when their `CRM_*` settings name no Kafka or PostgreSQL, so a second
terminal needs no exported variable. The file holds the database's passwords, so it is written
for its owner only (0600), and removed when the stack stops. A file left by a killed run is
recognised as stale (its process is gone, or its servers no longer answer) and never trusted.
"""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url

from crm.local.processes import pid_alive, port_accepts

FILE_NAME = "stack.json"


@dataclass(frozen=True)
class StackFile:
    """One running stack: the process that runs it and its servers' addresses."""

    pid: int
    started_at: str
    kafka_bootstrap: str
    database_url: str
    # The embedded server's superuser, for `crm sql grant` only; None with an external database.
    database_admin_url: str | None
    gateway_url: str | None
    query_url: str | None


StackState = Literal["running", "stale", "absent"]


def stack_file_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def read_stack_file(path: Path) -> tuple[StackState, StackFile | None]:
    """The stack recorded at `path` and whether it still runs: its process is alive and its
    Kafka and PostgreSQL accept connections. A file that does not parse is stale."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        stack = StackFile(**{name: raw.get(name) for name in StackFile.__dataclass_fields__})
    except FileNotFoundError:
        return "absent", None
    except (OSError, ValueError, TypeError):
        return "stale", None
    if not isinstance(stack.pid, int) or not pid_alive(stack.pid):
        return "stale", stack
    if not all(port_accepts(host, port) for host, port in _servers(stack)):
        return "stale", stack
    return "running", stack


def _servers(stack: StackFile) -> list[tuple[str, int]]:
    servers = []
    for address in stack.kafka_bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        servers.append((host.strip("[]"), int(port)))
    url = make_url(stack.database_url)
    servers.append((url.host or "127.0.0.1", url.port or 5432))
    return servers


def write_stack_file(path: Path, stack: StackFile) -> None:
    """Write `stack` to `path`, readable by its owner only, in one rename (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(asdict(stack), handle, indent=2)
        handle.write("\n")
    os.replace(partial, path)


@contextmanager
def published_stack(path: Path, stack: StackFile) -> Iterator[bool]:
    """Record `stack` at `path` while the block runs, unless another stack that still runs is
    recorded there (it keeps the file; yields False). Removes the file on exit if it is ours."""
    state, _ = read_stack_file(path)
    if state == "running":
        yield False
        return
    write_stack_file(path, stack)
    try:
        yield True
    finally:
        _, current = read_stack_file(path)
        if current is not None and current.pid == stack.pid:
            path.unlink(missing_ok=True)


def stack_of_this_process(
    kafka_bootstrap: str,
    database_url: str,
    database_admin_url: str | None,
    gateway_url: str | None,
    query_url: str | None,
) -> StackFile:
    return StackFile(
        pid=os.getpid(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        database_admin_url=database_admin_url,
        gateway_url=gateway_url,
        query_url=query_url,
    )
