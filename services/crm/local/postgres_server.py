"""An embedded PostgreSQL server for when CRM_DATABASE_URL is unset.

Uses the server binaries already on the machine (Debian's `postgresql` package, or any
`initdb`/`postgres` on PATH). PostgreSQL refuses to run as root, so under root it runs as the
`postgres` system user (its own group only) and keeps its data where that user can reach it.

Locked like a real server (docs/sql-access.md "The embedded server is locked"): every login needs its
password (scram-sha-256); the superuser's and the services' passwords are generated once and kept
in files only their owner can read (`superuser.password`, `app.password`); the services connect as
`crm_app`, which owns the schema but is no superuser (no `COPY ... PROGRAM`, no server files, no
roles); only `crm sql grant` and the operator use the superuser. A data directory of an older
release (trust for every login, everything owned by the superuser) is brought to this in place.
"""

import glob
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from crm.errors import InfrastructureError
from crm.local.postgres_bootstrap import HBA, bootstrap_script
from crm.local.processes import free_port, log_tail, primary_group, spawn_server, stop_process, wait_until

log = structlog.get_logger(__name__)

SUPERUSER = "crm"
APP_ROLE = "crm_app"
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
        """What the services use: `crm_app`, the owner of the schema, no superuser."""
        return self._url(APP_ROLE, self.app_password_file)

    @property
    def admin_url(self) -> str:
        """The superuser: `crm sql grant` (it creates roles), the operator, the tests' faults."""
        return self._url(SUPERUSER, self.superuser_password_file)

    @property
    def superuser_password_file(self) -> Path:
        return self.work_dir / "superuser.password"

    @property
    def app_password_file(self) -> Path:
        return self.work_dir / "app.password"

    def _url(self, role: str, password_file: Path) -> str:
        return f"postgresql+asyncpg://{role}:{_read_secret(password_file)}@{self.host}:{self.port}/{DATABASE}"

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
        fresh = not (data_dir / "PG_VERSION").exists()
        if not fresh and not self.superuser_password_file.exists() and not _trusting(data_dir):
            raise InfrastructureError(
                f"{self.superuser_password_file} is missing, and the server in {data_dir} asks for the "
                f"superuser's password. Put the file back, or remove {self.work_dir} to start with an "
                "empty database (everything in it is lost)."
            )
        superuser_password = _secret(self.superuser_password_file)
        app_password = _secret(self.app_password_file)
        if fresh:
            self._initdb(bindir, data_dir, user, superuser_password)
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
        self._lock(bindir, data_dir, superuser_password, app_password)
        # For the CLI while the server runs (`export CRM_DATABASE_URL="$(cat .crm/postgres/app.url)"`).
        _write_private(self.work_dir / "app.url", self.url + "\n")
        _write_private(self.work_dir / "admin.url", self.admin_url + "\n")
        log.info("postgres.ready", host=self.host, port=self.port, role=APP_ROLE, pid=self._process.pid)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._process is None:
            return
        code = stop_process(self._process, signal.SIGINT, timeout)
        for name in ("app.url", "admin.url"):
            (self.work_dir / name).unlink(missing_ok=True)
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

    def _initdb(self, bindir: Path, data_dir: Path, user: str | None, password: str) -> None:
        # initdb reads the superuser's password from a file `user` can read: a private copy,
        # removed as soon as initdb is done.
        handle, name = tempfile.mkstemp(prefix=".initdb-", dir=data_dir.parent)
        try:
            with os.fdopen(handle, "w") as pwfile:
                pwfile.write(password + "\n")
            if user is not None:
                os.chown(name, pwd.getpwnam(user).pw_uid, -1)
            result = subprocess.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={name}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                capture_output=True,
                text=True,
                user=user,
                group=primary_group(user),
                extra_groups=None if user is None else [],
            )
        finally:
            os.unlink(name)
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

    def _lock(self, bindir: Path, data_dir: Path, superuser_password: str, app_password: str) -> None:
        """Roles, database, ownership and catalogue privileges (`postgres_bootstrap`), then
        passwords for every login from now on (pg_hba.conf, reloaded). Idempotent: every start."""
        psql = bindir / "psql"
        command = [
            str(psql) if psql.exists() else shutil.which("psql") or "psql",
            "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres",
        ]  # fmt: skip
        # The passwords go in on stdin and the environment, never on a command line (`ps` shows those).
        script = bootstrap_script(
            superuser=SUPERUSER,
            superuser_password=superuser_password,
            app_role=APP_ROLE,
            app_password=app_password,
            database=DATABASE,
        )
        env = {**os.environ, "PGPASSWORD": superuser_password, "PGCONNECT_TIMEOUT": "10"}
        result = subprocess.run(command, input=script, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            self.stop(timeout=5)
            raise InfrastructureError(
                f"Could not prepare the roles and the database of {data_dir} as {SUPERUSER}: "
                f"{result.stderr.strip()}\nIf {self.superuser_password_file} does not hold that server's "
                f"superuser password, put the right one back, or remove {self.work_dir} to start afresh."
            )
        hba = data_dir / "pg_hba.conf"
        if hba.read_text() != HBA:
            hba.write_text(HBA)  # the same file (and owner), new content
            reload = subprocess.run([*command, "-c", "SELECT pg_reload_conf()"], capture_output=True, env=env)
            if reload.returncode != 0:
                raise InfrastructureError(f"Could not reload {hba}: {reload.stderr.decode().strip()}")
            log.info("postgres.locked", hba=str(hba))


def _secret(path: Path) -> str:
    """The password kept in `path`: generated on first use into a file only its owner may read."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(handle, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    return _read_secret(path)


def _write_private(path: Path, content: str) -> None:
    """Replace `path` with `content`, readable by its owner only from the first byte."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w") as file:
        file.write(content)
    partial.replace(path)


def _read_secret(path: Path) -> str:
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)  # e.g. copied with a looser mode: only its owner reads it
            log.warning("postgres.password_file_mode_tightened", path=str(path))
        secret = path.read_text().strip()
    except FileNotFoundError:
        raise InfrastructureError(f"{path} is missing: start the embedded PostgreSQL first") from None
    if not secret or not secret.replace("-", "").replace("_", "").isalnum():
        raise InfrastructureError(f"{path} does not hold a password of letters, digits, '-' and '_'")
    return secret


def _trusting(data_dir: Path) -> bool:
    """Whether the cluster lets logins in without a password: a data directory of an older release."""
    rules = (line.split() for line in (data_dir / "pg_hba.conf").read_text().splitlines())
    return any(rule and not rule[0].startswith("#") and rule[-1] == "trust" for rule in rules)
