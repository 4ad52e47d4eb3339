"""What a run ran on: the machine, its load, and the versions of everything measured."""

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from crm.local.paths import kafka_pom

LIBRARIES = (
    "aiokafka",
    "faust-streaming",
    "SQLAlchemy",
    "asyncpg",
    "fastapi",
    "uvicorn",
    "pydantic",
    "orjson",
    "uvloop",
    "httpx",
)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    memory = _first("/proc/meminfo", "MemTotal")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", "model name") or platform.processor(),
        "memory_mib": int(memory.split()[0]) // 1024 if memory else None,
        "platform": platform.platform(),
    }


def _kafka_version() -> str | None:
    """The broker version pinned in infra/kafka/pom.xml (what the embedded broker runs)."""
    try:
        match = re.search(r"<kafka.version>([^<]+)</kafka.version>", kafka_pom().read_text())
    except OSError:
        return None
    return match.group(1) if match else None


async def _postgres_version(database_url: str) -> str:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def _git_commit() -> str | None:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or None


async def versions(database_url: str, *, external_kafka: bool) -> dict[str, Any]:
    libraries: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libraries[name] = None
    return {
        "python": platform.python_version(),
        "kafka": None if external_kafka else _kafka_version(),
        "postgres": await _postgres_version(database_url),
        "libraries": libraries,
        "commit": _git_commit(),
    }
