"""The embedded PostgreSQL is locked (issue 13, finding 4): a password for every login, the
services' role no superuser, the server process without root's group, older data directories
locked in place."""

import asyncio
import os
import stat
from pathlib import Path

import asyncpg
import pytest

from crm.errors import InfrastructureError
from crm.local.postgres_server import APP_ROLE, SUPERUSER, EmbeddedPostgres
from tests.support.isolation import plain_dsn

pytestmark = pytest.mark.infra


async def _refused(dsn: str) -> bool:
    try:
        connection = await asyncpg.connect(dsn, timeout=10)
    except asyncpg.InvalidPasswordError:
        return True
    await connection.close()
    return False


def _groups(pid: int) -> set[int]:
    """The real, effective, saved and supplementary groups of a process."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {int(g) for g in status["Gid"].split()} | {int(g) for g in status["Groups"].split()}


async def _check_locked(server: EmbeddedPostgres) -> None:
    base = f"postgresql://{{}}@127.0.0.1:{server.port}/crm"
    for role in (SUPERUSER, APP_ROLE, "postgres"):
        assert await _refused(base.format(role)), f"{role} logged in without a password"
        assert await _refused(base.format(f"{role}:wrong")), f"{role} logged in with a wrong password"
    app = await asyncpg.connect(plain_dsn(server.url))
    admin = await asyncpg.connect(plain_dsn(server.admin_url))
    try:
        assert await app.fetchval("SELECT current_user") == APP_ROLE
        privileged = "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        assert await app.fetchval(privileged) is False
        assert await app.fetchval("SELECT datdba::regrole::text FROM pg_database WHERE datname = 'crm'") == APP_ROLE
        await app.execute("CREATE TEMP TABLE probe (line text)")
        for statement in (
            "COPY probe FROM PROGRAM 'id'",
            "SELECT pg_read_file('/etc/passwd')",
            "COPY probe FROM '/etc/passwd'",
            "CREATE ROLE intruder SUPERUSER",
            f"ALTER ROLE {APP_ROLE} SUPERUSER",
            f"GRANT pg_execute_server_program TO {APP_ROLE}",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(statement)
        # The superuser can run programs: they run as the server's user, outside group 0.
        await admin.execute("CREATE TEMP TABLE probe (line text)")
        await admin.execute("COPY probe FROM PROGRAM 'id -G'")
        server_groups = {int(g) for g in (await admin.fetchval("SELECT line FROM probe")).split()}
        if os.geteuid() == 0:
            assert 0 not in server_groups
    finally:
        await app.close()
        await admin.close()
    assert server.pid is not None
    if os.geteuid() == 0:
        assert 0 not in _groups(server.pid)
    for secret in (server.superuser_password_file, server.app_password_file):
        info = secret.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.geteuid(), secret
        assert secret.read_text().strip() not in server.log_path.read_text()


def test_every_login_needs_its_password_and_the_services_role_is_no_superuser(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "postgres") as server:
        asyncio.run(_check_locked(server))
        assert (tmp_path / "postgres" / "app.url").read_text().strip() == server.url
        assert stat.S_IMODE((tmp_path / "postgres" / "admin.url").stat().st_mode) == 0o600
    assert not (tmp_path / "postgres" / "admin.url").exists()


def test_a_data_directory_of_an_older_release_is_locked_in_place(tmp_path: Path) -> None:
    """An older release's cluster: trust for every login, its tables owned by the superuser."""
    work_dir = tmp_path / "postgres"
    with EmbeddedPostgres(work_dir) as server:

        async def as_an_older_release_left_it() -> None:
            admin = await asyncpg.connect(plain_dsn(server.admin_url))
            try:
                await admin.execute("CREATE TABLE public.kept (x int); INSERT INTO kept VALUES (42)")
                await admin.execute("CREATE SCHEMA legacy; CREATE VIEW legacy.seen AS SELECT x FROM public.kept")
            finally:
                await admin.close()

        asyncio.run(as_an_older_release_left_it())
        hba = server.data_dir / "pg_hba.conf"
    hba.write_text("host all all all trust\n")
    for name in ("superuser.password", "app.password"):
        (work_dir / name).unlink()
    with EmbeddedPostgres(work_dir) as server:
        asyncio.run(_check_locked(server))

        async def kept_and_handed_over() -> None:
            app = await asyncpg.connect(plain_dsn(server.url))
            try:
                assert await app.fetchval("SELECT x FROM legacy.seen") == 42
                owners = await app.fetch(
                    "SELECT relname, relowner::regrole::text AS owner FROM pg_class WHERE relname IN ('kept', 'seen')"
                )
                assert {row["owner"] for row in owners} == {APP_ROLE}
                await app.execute("INSERT INTO kept VALUES (43)")  # its own table now
            finally:
                await app.close()

        asyncio.run(kept_and_handed_over())


def test_a_lost_superuser_password_file_is_a_clear_error(tmp_path: Path) -> None:
    work_dir = tmp_path / "postgres"
    with EmbeddedPostgres(work_dir):
        pass
    (work_dir / "superuser.password").unlink()
    with pytest.raises(InfrastructureError, match=r"superuser.password is missing.*Put the file back"):
        EmbeddedPostgres(work_dir).start()
