"""An embedded PostgreSQL server for when CRM_DATABASE_URL is unset.

Uses the server binaries already on the machine (Debian's `postgresql` package, or any
`initdb`/`postgres` on PATH). PostgreSQL refuses to run as root, so under root it runs as the
`postgres` system user and keeps its data where that user can reach it.
"""

import glob
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from crm.infra.errors import InfrastructureError
from crm.infra.processes import free_port, log_tail, spawn_server, stop_process, wait_until

log = structlog.get_logger(__name__)

SUPERUSER = "crm"
DATABASE = "crm"
_UNPRIVILEGED_USERS = ("postgres", "nobody")


def find_postgres_bindir() -> Path:
    """The directory holding `initdb`, `postgres` and `pg_isready`."""
    candidates = [os.environ.get("CRM_POSTGRES_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major_version, reverse=True)
    initdb_on_path = shutil.which("initdb")
    if initdb_on_path:
        candidates.append(str(Path(initdb_on_path).resolve().parent))
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if (path / "initdb").exists() and (path / "postgres").exists():
            return path
    raise InfrastructureError(
        "No PostgreSQL server binaries found (initdb, postgres). Install them "
        "(Debian/Ubuntu: `apt-get install postgresql`), set CRM_POSTGRES_BINDIR to their "
        "directory, or set CRM_DATABASE_URL to an existing database."
    )


def _major_version(bindir: str) -> int:
    try:
        return int(Path(bindir).parent.name)
    except ValueError:
        return 0


def _run_as() -> str | None:
    """The user to run the server as: ourselves, or an unprivileged account under root."""
    if os.geteuid() != 0:
        return None
    for name in _UNPRIVILEGED_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise InfrastructureError(
        "Running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as."
    )


def _reachable_by(user: str, path: Path) -> bool:
    """Whether every directory above `path` lets `user` (as "other") pass through."""
    uid = pwd.getpwnam(user).pw_uid
    for parent in path.resolve().parents:
        info = parent.stat()
        if info.st_uid != uid and not info.st_mode & 0o001:
            return False
    return True


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server on loopback with a `crm` database. Context manager or start()/stop()."""

    work_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    start_timeout: float = 60.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _data_dir: Path | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.work_dir = self.work_dir.resolve()

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@{self.host}:{self.port}/{DATABASE}"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "postgres.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def data_dir(self) -> Path:
        """The cluster's directory (pg_hba.conf, postgresql.conf), once started."""
        if self._data_dir is None:
            raise InfrastructureError("PostgreSQL has not been started")
        return self._data_dir

    def start(self) -> "EmbeddedPostgres":
        bindir = find_postgres_bindir()
        user = _run_as()
        data_dir = self._prepare_data_dir(user)
        if not (data_dir / "PG_VERSION").exists():
            self._initdb(bindir, data_dir, user)
        self.port = self.port or free_port(self.host)
        argv = [
            str(bindir / "postgres"),
            "-D", str(data_dir),
            "-p", str(self.port),
            "-c", f"listen_addresses={self.host}",
            "-c", "unix_socket_directories=",
            "-c", "max_connections=200",
            "-c", "shared_buffers=256MB",
            "-c", "wal_level=logical",
            "-c", "max_wal_size=2GB",
        ]  # fmt: skip
        log.info("postgres.starting", port=self.port, data_dir=str(data_dir), log=str(self.log_path))
        self.log_path.unlink(missing_ok=True)
        self._data_dir = data_dir
        # SIGINT is PostgreSQL's "fast shutdown": roll back, checkpoint, exit.
        self._process = spawn_server(argv, self.log_path, parent_death_signal=signal.SIGINT, user=user)
        self._wait_ready(bindir)
        self._create_database(bindir)
        log.info("postgres.ready", url=self.url, pid=self._process.pid)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._process is None:
            return
        code = stop_process(self._process, signal.SIGINT, timeout)
        log.info("postgres.stopped", pid=self._process.pid, exit_code=code)
        self._process = None

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _prepare_data_dir(self, user: str | None) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        data_dir = self.work_dir / "data"
        if user is not None and not _reachable_by(user, self.work_dir):
            # e.g. a checkout under /root: keep the data where `user` can reach it, linked from here.
            digest = hashlib.sha256(str(self.work_dir.resolve()).encode()).hexdigest()[:12]
            target = Path("/var/tmp") / f"crm-postgres-{digest}"
            target.mkdir(mode=0o700, exist_ok=True)
            if not data_dir.is_symlink():
                shutil.rmtree(data_dir, ignore_errors=True)
                data_dir.symlink_to(target)
            data_dir = target
        data_dir.mkdir(mode=0o700, exist_ok=True)
        if user is not None:
            info = pwd.getpwnam(user)
            for path in (data_dir, self.work_dir):
                os.chown(path, info.pw_uid, info.pw_gid)
        return data_dir.resolve()

    def _initdb(self, bindir: Path, data_dir: Path, user: str | None) -> None:
        result = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            capture_output=True,
            text=True,
            user=user,
        )
        if result.returncode != 0:
            raise InfrastructureError(f"initdb failed in {data_dir}:\n{result.stdout}{result.stderr}")

    def _wait_ready(self, bindir: Path) -> None:
        process = self._process
        assert process is not None

        def accepting() -> bool:
            if process.poll() is not None:
                return True
            probe = [str(bindir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port), "-U", SUPERUSER]
            return subprocess.run(probe, capture_output=True).returncode == 0

        wait_until(accepting, self.start_timeout, interval=0.1)
        if process.poll() is not None or not accepting():
            self.stop(timeout=5)
            raise InfrastructureError(
                f"PostgreSQL did not become ready on {self.host}:{self.port} within {self.start_timeout:.0f}s.\n"
                f"Last lines of {self.log_path}:\n{log_tail(self.log_path)}"
            )

    def _create_database(self, bindir: Path) -> None:
        psql = [str(bindir / "psql"), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres", "-tAc"]
        if not Path(psql[0]).exists():
            psql[0] = shutil.which("psql") or "psql"
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"], capture_output=True, text=True
        )
        if exists.stdout.strip() != "1":
            created = subprocess.run([*psql, f"CREATE DATABASE {DATABASE}"], capture_output=True, text=True)
            if created.returncode != 0:
                raise InfrastructureError(f"Could not create database {DATABASE}: {created.stderr}")
