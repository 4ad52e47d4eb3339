"""`CRM_DATABASE_URL` with libpq's TLS arguments reaches asyncpg (crm/db/engine.py): against the
session's PostgreSQL with `ssl = on` and certificates made for the test."""

import asyncio
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm.db.engine import create_engine
from crm.db.migrate import schema_revision, upgrade_database
from crm.local.services import service_environment
from crm.settings import Settings
from tests.support.isolation import create_database
from tests.support.postgres_tls import Certificates, make_certificates, tls_switched_on

CONNECTION_TLS = "SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.fixture(scope="module")
def certificates(infrastructure: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Certificates]:
    made = make_certificates(tmp_path_factory.mktemp("postgres-tls"), hosts=("127.0.0.1",))
    assert infrastructure.database_admin_url, "TLS is switched on by the embedded server's superuser"
    with tls_switched_on(infrastructure.database_admin_url, made):
        yield made


def with_tls(database_url: str, **arguments: str | Path) -> str:
    url = make_url(database_url).update_query_dict({name: str(value) for name, value in arguments.items()})
    return url.render_as_string(hide_password=False)


async def connection_tls(database_url: str) -> tuple[bool, str | None]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(text(CONNECTION_TLS))).one()
    finally:
        await engine.dispose()
    return row.ssl, row.client_dn


async def test_verify_full_with_the_root_certificate_connects_encrypted(
    infrastructure: Settings, certificates: Certificates
) -> None:
    assert infrastructure.database_url
    url = with_tls(infrastructure.database_url, sslmode="verify-full", sslrootcert=certificates.root)

    assert await connection_tls(url) == (True, None)


async def test_a_client_certificate_is_presented(infrastructure: Settings, certificates: Certificates) -> None:
    assert infrastructure.database_url
    url = with_tls(
        infrastructure.database_url,
        sslmode="verify-full",
        sslrootcert=certificates.root,
        sslcert=certificates.client_cert,
        sslkey=certificates.client_key,
    )

    assert await connection_tls(url) == (True, "/CN=crm_app")


async def test_without_tls_arguments_the_connection_is_not_verified_nor_refused(
    infrastructure: Settings, certificates: Certificates
) -> None:
    assert infrastructure.database_url
    ssl_on, _ = await connection_tls(with_tls(infrastructure.database_url, sslmode="disable"))

    assert ssl_on is False


@pytest.mark.parametrize("mode", ["verify-full", "verify-ca", "require"])
async def test_a_wrong_root_certificate_is_refused(
    infrastructure: Settings, certificates: Certificates, mode: str
) -> None:
    assert infrastructure.database_url
    url = with_tls(infrastructure.database_url, sslmode=mode, sslrootcert=certificates.other_root)

    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await connection_tls(url)


async def test_verify_full_refuses_a_host_the_certificate_does_not_name(
    infrastructure: Settings, certificates: Certificates
) -> None:
    assert infrastructure.database_url
    url = make_url(infrastructure.database_url).set(host="localhost")  # the same server, not in the certificate
    tls = with_tls(url.render_as_string(hide_password=False), sslmode="verify-full", sslrootcert=certificates.root)

    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        await connection_tls(tls)


async def test_crm_db_upgrade_migrates_over_tls_and_names_a_wrong_root(
    infrastructure: Settings, certificates: Certificates
) -> None:
    assert infrastructure.database_url
    fresh = await create_database(infrastructure.database_url, f"crm_tls_{uuid.uuid4().hex[:10]}")
    good = with_tls(fresh, sslmode="verify-full", sslrootcert=certificates.root)
    wrong = with_tls(fresh, sslmode="verify-full", sslrootcert=certificates.other_root)

    refused = await asyncio.to_thread(crm_db_upgrade, infrastructure, wrong)
    await asyncio.to_thread(upgrade_database, good)

    assert refused.returncode == 3, (refused.returncode, refused.stderr)
    assert "PostgreSQL refused: its TLS certificate is not trusted" in refused.stderr, refused.stderr
    assert "sslrootcert" in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    assert (await schema_revision(good)).current


def crm_db_upgrade(settings: Settings, database_url: str) -> subprocess.CompletedProcess[str]:
    environment = service_environment(settings.model_copy(update={"database_url": database_url}))
    return subprocess.run(
        [sys.executable, "-m", "crm.cli", "db", "upgrade"], env=environment, capture_output=True, text=True, timeout=120
    )
