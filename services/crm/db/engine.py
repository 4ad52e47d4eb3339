"""The async engine. Created by a composition root, never at import time.

TLS comes with `CRM_DATABASE_URL`, spelled as libpq spells it (`?sslmode=verify-full&sslrootcert=
/path/root.crt`, optionally `sslcert`, `sslkey`, `sslpassword`): SQLAlchemy's asyncpg dialect
would hand those query arguments to `asyncpg.connect` as keywords it does not take, so
`asyncpg_connect_args` turns them into asyncpg's `ssl` argument (docs/operations.md
"PostgreSQL as a service").
"""

import ssl
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from crm.errors import InfrastructureError

TLS_ARGUMENTS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword")
_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def create_engine(database_url: str | None, *, pool_size: int = 5) -> AsyncEngine:
    if not database_url:
        raise InfrastructureError("No database URL: set CRM_DATABASE_URL or start the embedded PostgreSQL.")
    url, connect_args = asyncpg_connect_args(database_url)
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def asyncpg_connect_args(database_url: str) -> tuple[URL, dict[str, Any]]:
    """The URL without its libpq TLS arguments, and the `connect_args` carrying them to asyncpg."""
    url = make_url(database_url)
    tls = {name: str(url.query[name]) for name in TLS_ARGUMENTS if name in url.query}
    if not tls:
        return url, {}
    return url.difference_update_query(TLS_ARGUMENTS), {"ssl": tls_of(tls)}


def tls_of(arguments: dict[str, str]) -> ssl.SSLContext | str:
    """asyncpg's `ssl` for libpq's arguments: `disable`, `allow` and `prefer` as asyncpg takes them
    (no verification, as libpq), an `SSLContext` for the modes that require TLS. As in libpq,
    `require` with a root certificate verifies the chain (as `verify-ca`); `sslrootcert=system`
    (or none, with `verify-*`) trusts the system's CAs."""
    mode = arguments.get("sslmode", "prefer")
    if mode not in _MODES:
        raise InfrastructureError(f"CRM_DATABASE_URL: sslmode={mode} is not one of {', '.join(_MODES)}.")
    root = arguments.get("sslrootcert")
    if mode in ("disable", "allow", "prefer"):
        if "sslcert" in arguments or root:
            raise InfrastructureError(
                f"CRM_DATABASE_URL: sslmode={mode} does not verify the server; use sslmode=verify-full with "
                "sslrootcert (or sslcert)."
            )
        return mode
    verify = mode != "require" or root is not None
    context = ssl.create_default_context(cafile=None if root in (None, "system") else root)
    context.check_hostname = mode == "verify-full"
    if not verify:
        context.verify_mode = ssl.CERT_NONE
    if "sslcert" in arguments:
        context.load_cert_chain(arguments["sslcert"], arguments.get("sslkey"), password=arguments.get("sslpassword"))
    return context


async def driver_connection(connection: AsyncConnection) -> Any:
    """The asyncpg connection under `connection` (same transaction): for reads whose rows go
    straight into our own objects, without SQLAlchemy's row processing."""
    raw = await connection.get_raw_connection()
    return raw.driver_connection
