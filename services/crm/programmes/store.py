"""Programme definitions in PostgreSQL (`programme_versions`, migration 0010), by version."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm.programmes.definition import Programme


@dataclass(frozen=True, slots=True)
class StoredProgramme:
    programme: Programme
    version: int
    applied_at: datetime
    applied_by: str | None


@dataclass(frozen=True, slots=True)
class Applied:
    """What `apply` did: stored a new version, or found the definition unchanged."""

    version: int
    changed: bool


_APPLY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
"""Held until the applying transaction ends; one key per programme (other programmes go on)."""


def canonical(programme: Programme) -> bytes:
    """The definition as canonical JSON (sorted keys): what is stored and digested."""
    return orjson.dumps(programme.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)


def _stored(row: Any) -> StoredProgramme:
    return StoredProgramme(Programme.model_validate(row.definition), row.version, row.applied_at, row.applied_by)


async def stored_programme(
    connection: AsyncConnection, programme_id: str, version: int | None = None
) -> StoredProgramme | None:
    """The newest version (or `version`) of the programme on `connection`; None when there is none."""
    query = (
        "SELECT * FROM programme_versions WHERE programme_id = :id "
        + ("AND version = :version " if version is not None else "")
        + "ORDER BY version DESC LIMIT 1"
    )
    row = (await connection.execute(text(query), {"id": programme_id, "version": version})).first()
    return None if row is None else _stored(row)


class ProgrammeStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def current(self, programme_id: str, version: int | None = None) -> StoredProgramme | None:
        """The newest version (or `version`) of the programme; None when there is none."""
        async with self._engine.connect() as connection:
            return await stored_programme(connection, programme_id, version)

    async def all_current(self) -> list[StoredProgramme]:
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT DISTINCT ON (programme_id) * FROM programme_versions ORDER BY programme_id, version DESC")
            )
            return [_stored(row) for row in rows]

    async def apply(self, programme: Programme, applied_by: str | None) -> Applied:
        """Store the definition as the programme's next version, unless it equals the current one.

        Applies of one programme are serialised by a transaction-level advisory lock taken before
        the current version is read, so concurrent applies get consecutive versions and each sees
        the one stored before it. The primary key (programme_id, version) is the backstop: a writer
        that skipped the lock gets an IntegrityError, never a second row with the same version."""
        body = canonical(programme)
        digest = hashlib.sha256(body).digest()
        async with self._engine.begin() as connection:
            await connection.execute(_APPLY_LOCK, {"key": f"programme_versions:{programme.id}"})
            row = (
                await connection.execute(
                    text(
                        "SELECT version, digest FROM programme_versions WHERE programme_id = :id "
                        "ORDER BY version DESC LIMIT 1"
                    ),
                    {"id": programme.id},
                )
            ).first()
            if row is not None and bytes(row.digest) == digest:
                return Applied(row.version, changed=False)
            version = 1 if row is None else row.version + 1
            await connection.execute(
                text(
                    "INSERT INTO programme_versions (programme_id, version, definition, digest, applied_by) "
                    "VALUES (:id, :version, CAST(:definition AS jsonb), :digest, :by)"
                ),
                {
                    "id": programme.id,
                    "version": version,
                    "definition": body.decode(),
                    "digest": digest,
                    "by": applied_by,
                },
            )
            return Applied(version, changed=True)
