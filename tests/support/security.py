"""Helpers of the security checks: the routes an app really serves, listening sockets, secrets in logs."""

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute


@dataclass(frozen=True)
class ServedRoute:
    path: str
    methods: frozenset[str]

    @property
    def parameters(self) -> list[str]:
        return [name.split(":")[0] for name in re.findall(r"{([^}]+)}", self.path)]


def served_routes(routes: Iterable[BaseRoute], prefix: str = "") -> list[ServedRoute]:
    """Every HTTP route of an app, routers included (FastAPI >= 0.16x keeps included routers nested).

    Fails on a kind of route it cannot call (a mount, a websocket), so that a new one is noticed."""
    found: list[ServedRoute] = []
    for route in routes:
        included: Any = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            found += served_routes(included.routes, prefix + getattr(context, "prefix", ""))
            continue
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        assert isinstance(path, str) and methods, f"{route!r}: not a plain HTTP route; teach the security tests it"
        found.append(ServedRoute(prefix + path, frozenset(methods)))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except FileNotFoundError:
        pass
    return inodes


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _address(hex_address: str) -> str:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        text = ".".join(str(b) for b in raw[::-1])
    else:  # /proc prints IPv6 as four little-endian 32-bit words
        words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
        text = str(ip_address(b"".join(words)))
    return f"{text}:{int(port, 16)}"


def listening_sockets(pid: int | None = None) -> list[tuple[str, str]]:
    """(address:port, inode) of every TCP socket in LISTEN state, of `pid` and its descendants
    (of the whole network namespace when pid is None)."""
    inodes = None if pid is None else set().union(*(_socket_inodes(p) for p in _descendants(pid)))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and (inodes is None or fields[9] in inodes):  # 0A: LISTEN
                found.append((_address(fields[1]), fields[9]))
    return found


def is_loopback(address: str) -> bool:
    host = ip_address(address.rsplit(":", 1)[0])
    mapped = getattr(host, "ipv4_mapped", None)  # Java listens on ::ffff:127.0.0.1
    return (mapped or host).is_loopback


def secrets_in_files(paths: Iterable[Path], secrets: Iterable[str]) -> list[tuple[str, str]]:
    """(file, which secret) for every secret found in any of the files."""
    found = []
    wanted = [s for s in secrets if s]
    for path in paths:
        text = path.read_text(errors="replace")
        found += [(str(path), secret[:12] + "...") for secret in wanted if secret in text]
    return found


def token_secrets(token: str) -> list[str]:
    """The whole token and its secret part (`crm_<id>_<secret>`): neither may be logged."""
    return [token, token.split("_", 2)[2]]
