"""Child processes that never outlive their parent.

Servers run in their own session (Ctrl-C in a terminal reaches only us, and we stop them in
order) and get a parent-death signal, so even a SIGKILLed parent leaves no orphan `java` or
`postgres` behind.
"""

import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: rely on the explicit stop instead
        pass


def spawn_server(
    argv: Sequence[str],
    log_path: Path,
    *,
    parent_death_signal: int = signal.SIGTERM,
    user: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server process whose output goes to `log_path`.

    Call from a long-lived thread (the main thread): Linux sends the parent-death signal when
    the *thread* that forked exits. With `user`, it runs as that user with that user's own group
    and no other.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            user=user,
            group=primary_group(user),
            extra_groups=None if user is None else [],  # not the caller's groups (root's: 0)
            start_new_session=True,
            preexec_fn=lambda: _die_with_parent(parent_death_signal),
        )
    finally:
        log.close()


def primary_group(user: str | None) -> int | None:
    """The group to run `user`'s process with. `Popen(user=...)` alone keeps the caller's
    groups, so a server started by root as `postgres` would still be in group 0."""
    return None if user is None else pwd.getpwnam(user).pw_gid


def stop_process(process: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    """Ask politely with `sig`, then SIGKILL after `timeout` seconds. Returns the exit code."""
    if process.poll() is None:
        try:
            process.send_signal(sig)
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
