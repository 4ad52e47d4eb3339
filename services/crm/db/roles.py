"""The least-privilege layout on a shared PostgreSQL (docs/operations.md "PostgreSQL as a service").

* The migration role owns the schema and runs `crm db upgrade`; nothing else uses it.
* One NOLOGIN group role per service (`SERVICE_ROLES`), holding only the rights that service
  uses; an operator makes each service's LOGIN user a member (`GRANT crm_gateway TO gateway_1`).
* The partners' SQL logins stay members of `crm_partner_reader` (docs/sql-access.md).

The group roles are created by a role with CREATEROLE (`crm db roles --apply`, with
`CRM_DATABASE_ADMIN_URL`); the table rights are granted by the owner, at the end of every
`crm db upgrade` (`grant_service_rights`), so the tables of a new migration get theirs at once.
No table has row-level security since migration 0007 (the partners read through `reporting`'s
SECURITY DEFINER functions), so table privileges are the whole of it.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

READ = ("SELECT",)
WRITE = ("SELECT", "INSERT", "UPDATE")


@dataclass(frozen=True)
class ServiceRole:
    name: str
    purpose: str
    rights: dict[str, tuple[str, ...]]
    """Table -> privileges."""


READ_MODELS = ("smes", "sme_markets", "pilots", "agreements", "sme_timeline")

SERVICE_ROLES: tuple[ServiceRole, ...] = (
    ServiceRole(
        "crm_gateway",
        "verifies tokens, claims event ids (and counts old contract versions), reads programmes",
        {
            "api_tokens": READ,
            "programme_versions": READ,
            "accepted_events": ("SELECT", "INSERT"),
            "contract_version_usage": WRITE,
        },
    ),
    ServiceRole(
        "crm_projector",
        "applies events to the read models, with the record of the applied ids",
        {
            "applied_events": ("SELECT", "INSERT"),
            **dict.fromkeys(READ_MODELS, WRITE),
            "programme_versions": READ,
        },
    ),
    ServiceRole(
        "crm_query",
        "reads the read models and programmes; freezes reports, snoozes pilots, acknowledges alerts",
        {
            "api_tokens": READ,
            "applied_events": READ,
            **dict.fromkeys(READ_MODELS, READ),
            "programme_versions": READ,
            "reports": ("SELECT", "INSERT"),  # freeze and re-open (a frozen row is never updated: 0011)
            "report_steps": ("SELECT", "INSERT"),
            "alerts": ("SELECT", "UPDATE"),
            "pilot_snoozes": WRITE,
        },
    ),
    ServiceRole(
        "crm_alerts",
        "keeps the alerts read model and the webhook outbox, reads snoozes, webhooks and pilots",
        {
            "alerts": WRITE,
            "applied_alert_events": ("SELECT", "INSERT"),
            "alert_outbox": WRITE,
            "webhook_deliveries": ("SELECT", "INSERT"),
            "partner_webhooks": READ,
            "pilot_snoozes": READ,
            "pilots": READ,
            "programme_versions": READ,
        },
    ),
)
"""The services' group roles. Every one may also read `alembic_version` (the check at start)."""


def create_roles_sql(roles: Sequence[ServiceRole] = SERVICE_ROLES) -> list[str]:
    """Statements (for a role with CREATEROLE) creating the missing group roles, NOLOGIN."""
    return [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role.name}') THEN "
        f"CREATE ROLE {role.name} NOLOGIN; END IF; END $$"
        for role in roles
    ]


def grants_sql(role: ServiceRole, tables: frozenset[str] | None = None, schema: str = "public") -> list[str]:
    """Statements (for the schema's owner, idempotent) giving `role` exactly its rights on
    `tables` (None: all of its tables)."""
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {role.name}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role.name}",
        f"GRANT SELECT ON {schema}.alembic_version TO {role.name}",
    ]
    for table, privileges in role.rights.items():
        if tables is not None and table not in tables:
            continue  # an older revision (`crm db upgrade` to one), without that table yet
        statements.append(f"GRANT {', '.join(privileges)} ON {schema}.{table} TO {role.name}")
    statements.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role.name}")
    return statements


def grant_service_rights(connection: Connection) -> list[str]:
    """As the owner, in the migration's transaction: the rights of every service role that
    exists. Returns the names of those roles."""
    existing = set(
        connection.execute(
            text("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(:names)"),
            {"names": [role.name for role in SERVICE_ROLES]},
        ).scalars()
    )
    tables = frozenset(
        connection.execute(
            text(
                "SELECT relname FROM pg_catalog.pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
            )
        ).scalars()
    )
    granted = [role for role in SERVICE_ROLES if role.name in existing]
    for role in granted:
        for statement in grants_sql(role, tables):
            connection.exec_driver_sql(statement)
    return [role.name for role in granted]


def layout_sql() -> str:
    """The whole layout as a script for a DBA: the group roles, then (as the schema's owner) their
    rights on the tables of this release."""
    lines = ["-- As a role with CREATEROLE:", *(f"{s};" for s in create_roles_sql())]
    lines += ["", "-- As the owner of the schema (the migration role), after `crm db upgrade`:"]
    for role in SERVICE_ROLES:
        lines += [f"-- {role.name}: {role.purpose}", *(f"{s};" for s in grants_sql(role))]
    return "\n".join(lines) + "\n"


async def create_service_roles(admin_url: str) -> list[str]:
    """As a role with CREATEROLE: the group roles that are missing. Returns every group's name."""
    from crm.db.engine import create_engine

    engine = create_engine(admin_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            for statement in create_roles_sql():
                await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()
    return [role.name for role in SERVICE_ROLES]


async def grant_rights_now(owner_url: str) -> list[str]:
    """As the schema's owner, under the migration lock: `grant_service_rights` outside an upgrade."""
    from crm.db.engine import create_engine
    from crm.db.migrate import MIGRATION_LOCK_KEY

    engine = create_engine(owner_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            return await connection.run_sync(grant_service_rights)
    finally:
        await engine.dispose()
