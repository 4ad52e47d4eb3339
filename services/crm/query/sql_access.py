"""PostgreSQL login roles for partners' analysts (`crm sql grant` / `revoke`).

Each role is a member of `crm_partner_reader` and mapped to one partner in
`reporting.partner_roles`; the row-level security policies of migration 0005 do the rest.
Role names and passwords reach PostgreSQL through `format('%I', '%L')`, never by string pasting.
"""

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

READER = "crm_partner_reader"
_PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


_CREATE_ROLE = (
    "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE %I',"
    " CAST(:role AS text), CAST(:password AS text), CAST(:reader AS text))"
)


class SqlAccessError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PartnerLogin:
    role: str
    partner_id: str
    password: str

    def dsn(self, database_url: str) -> str:
        """A libpq URL (psql, BI tools) for this login on the given database."""
        url = make_url(database_url).set(drivername="postgresql", username=self.role, password=self.password)
        return url.render_as_string(hide_password=False)


def default_role_name(partner_id: str) -> str:
    return "crm_partner_" + partner_id.replace("-", "_")


async def grant_partner_login(engine: AsyncEngine, partner_id: str, role: str | None = None) -> PartnerLogin:
    """Create a LOGIN role that reads `partner_id`'s rows only; its password is returned once."""
    if not _PARTNER_ID.match(partner_id):
        raise SqlAccessError(f"{partner_id!r} is not a partner id (lowercase letters, digits, dashes)")
    role = role or default_role_name(partner_id)
    if not _ROLE.match(role):
        raise SqlAccessError(f"{role!r} is not a usable role name (lowercase letters, digits, underscores)")
    password = secrets.token_urlsafe(24)
    async with engine.begin() as connection:
        if await connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}):
            raise SqlAccessError(f"role {role} exists already; `crm sql revoke` it first")
        create = await connection.scalar(
            text(_CREATE_ROLE),
            {"role": role, "password": password, "reader": READER},
        )
        await connection.execute(text(str(create)))
        await connection.execute(
            text("INSERT INTO reporting.partner_roles (role_name, partner_id) VALUES (:role, :partner_id)"),
            {"role": role, "partner_id": partner_id},
        )
    return PartnerLogin(role, partner_id, password)


async def revoke_partner_login(engine: AsyncEngine, role: str) -> bool:
    """Drop the login role and its mapping; False when there was none."""
    if not _ROLE.match(role):
        raise SqlAccessError(f"{role!r} is not a usable role name")
    async with engine.begin() as connection:
        mapped = await connection.execute(
            text("DELETE FROM reporting.partner_roles WHERE role_name = :role"), {"role": role}
        )
        exists = await connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role})
        if exists:
            drop = await connection.scalar(text("SELECT format('DROP ROLE %I', CAST(:role AS text))"), {"role": role})
            await connection.execute(text(str(drop)))
    return bool(exists) or mapped.rowcount > 0
