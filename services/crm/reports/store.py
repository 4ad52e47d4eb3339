"""Frozen reports in PostgreSQL (`reports`, `report_steps`, migration 0011) and their lifecycle.

A period's report is a *draft* (computed on request from today's read models) until it is
frozen: `freeze` computes it in one snapshot of the database, stores the document's bytes, its
basis and the ids of every event applied in that snapshot, and records the step `submitted`.
From then on it is returned byte-identical. `reopen` records `reopened`: the report is a draft
again (the frozen revision stays on record) until the next `freeze` stores revision 2, and so on.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm.contract.events import rfc3339
from crm.programmes.definition import Programme
from crm.programmes.store import stored_programme
from crm.reports.content import report_content
from crm.reports.figures import BASIS_TABLE, keep_basis_sql

Status = Literal["draft", "submitted", "reopened"]


class ReportRefused(Exception):
    """A lifecycle step that may not be taken now (the message says why and what to do)."""


class UnknownReport(Exception):
    """No such programme or period (the message says which)."""


@dataclass(frozen=True, slots=True)
class Step:
    revision: int
    step: Literal["submitted", "reopened"]
    by: str
    at: datetime
    note: str | None

    def as_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "step": self.step, "by": self.by, "at": rfc3339(self.at), "note": self.note}


@dataclass(frozen=True, slots=True)
class FrozenReport:
    programme_id: str
    period: int
    revision: int
    programme_version: int
    document: bytes
    """Exactly what was stored: canonical JSON."""
    frozen_at: datetime
    frozen_by: str


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """A period's report: its status, its revisions' steps, and its latest frozen revision."""

    status: Status
    steps: list[Step]
    latest: FrozenReport | None


def encode(document: dict[str, Any]) -> bytes:
    """A report document as stored and returned: canonical JSON (sorted keys, UTF-8)."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def status_of(steps: list[Step]) -> Status:
    return "draft" if not steps else steps[-1].step


_LOCK = "SELECT pg_advisory_xact_lock(hashtext('report:' || :programme), CAST(:period AS integer))"
_STEPS = (
    "SELECT revision, step, by, at, note FROM report_steps "
    "WHERE programme_id = :programme AND period = :period ORDER BY step_id"
)
_FROZEN = (
    "SELECT programme_id, period, revision, programme_version, document, frozen_at, frozen_by FROM reports "
    "WHERE programme_id = :programme AND period = :period {which} ORDER BY revision DESC LIMIT 1"
)


async def _steps(connection: AsyncConnection, programme_id: str, period: int) -> list[Step]:
    rows = await connection.execute(text(_STEPS), {"programme": programme_id, "period": period})
    return [Step(r.revision, r.step, r.by, r.at, r.note) for r in rows]


async def frozen_report(
    connection: AsyncConnection, programme_id: str, period: int, revision: int | None = None
) -> FrozenReport | None:
    which = "" if revision is None else "AND revision = :revision"
    row = (
        await connection.execute(
            text(_FROZEN.format(which=which)), {"programme": programme_id, "period": period, "revision": revision}
        )
    ).first()
    if row is None:
        return None
    return FrozenReport(
        row.programme_id, row.period, row.revision, row.programme_version, bytes(row.document), row.frozen_at,
        row.frozen_by,
    )  # fmt: skip


async def lifecycle(connection: AsyncConnection, programme_id: str, period: int) -> Lifecycle:
    steps = await _steps(connection, programme_id, period)
    return Lifecycle(status_of(steps), steps, await frozen_report(connection, programme_id, period))


async def previous_document(connection: AsyncConnection, programme: Programme, period: int) -> dict[str, Any] | None:
    """The newest submitted report of a period before `period`: what was previously reported."""
    for earlier in sorted((p.number for p in programme.periods if p.number < period), reverse=True):
        state = await lifecycle(connection, programme.id, earlier)
        if state.status == "submitted" and state.latest is not None:
            found: dict[str, Any] = orjson.loads(state.latest.document)
            return found
    return None


async def draft_document(
    connection: AsyncConnection, programme: Programme, version: int, period: int
) -> dict[str, Any]:
    """The report as it would be frozen now (status draft)."""
    found = programme.period(period)
    if found is None:
        raise UnknownReport(f"programme {programme.id} has no period {period}")
    document = await report_content(
        connection, programme, version, found, await previous_document(connection, programme, period)
    )
    return document | {"report": {"status": "draft", "revision": None, "frozen_at": None, "frozen_by": None}}


class ReportStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def lifecycle(self, programme_id: str, period: int) -> Lifecycle:
        async with self._engine.connect() as connection:
            return await lifecycle(connection, programme_id, period)

    async def freeze(self, programme_id: str, period: int, by: str, *, today: date | None = None) -> FrozenReport:
        """Compute the period's report, store it frozen as the next revision, and record it
        submitted; all in one REPEATABLE READ snapshot, so the document, its basis and the
        applied events it lists agree. Refused before the period has ended, or when the
        report is submitted already (re-open it first)."""
        try:
            return await self._freeze(programme_id, period, by, today)
        except IntegrityError:
            raise ReportRefused(
                f"another freeze of the report of period {period} of {programme_id} committed first: "
                "see crm report status"
            ) from None

    async def _freeze(self, programme_id: str, period: int, by: str, today: date | None) -> FrozenReport:
        async with self._engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                # Two freezes of one report queue here; should the second one's snapshot predate the
                # first one's commit, the primary key refuses its revision (IntegrityError below).
                await connection.execute(text(_LOCK), {"programme": programme_id, "period": period})
                stored = await stored_programme(connection, programme_id)
                if stored is None:
                    raise UnknownReport(f"no programme {programme_id} is defined (crm programme apply)")
                found = stored.programme.period(period)
                if found is None:
                    raise UnknownReport(f"programme {programme_id} has no period {period}")
                now = datetime.now(UTC)
                if found.end >= (today or now.date()):
                    raise ReportRefused(
                        f"period {period} of {programme_id} ends on {found.end.isoformat()}: "
                        "a report can be frozen from the day after its period ends"
                    )
                steps = await _steps(connection, programme_id, period)
                if status_of(steps) == "submitted":
                    last = steps[-1]
                    raise ReportRefused(
                        f"the report of period {period} of {programme_id} was submitted already "
                        f"(revision {last.revision}, by {last.by} at {rfc3339(last.at)}); "
                        "re-open it first (crm report reopen) to submit a new revision"
                    )
                revision = max((s.revision for s in steps), default=0) + 1
                await connection.execute(text(keep_basis_sql()))
                computed = await report_content(
                    connection,
                    stored.programme,
                    stored.version,
                    found,
                    await previous_document(connection, stored.programme, period),
                    keep_basis=True,
                )
                document = computed | {
                    "report": {"status": "submitted", "revision": revision, "frozen_at": rfc3339(now), "frozen_by": by}
                }
                body = encode(document)
                await connection.execute(
                    text(
                        "INSERT INTO reports (programme_id, period, revision, programme_version, document, basis, "
                        "applied_event_ids, frozen_at, frozen_by) "
                        "SELECT :programme, :period, :revision, :version, :document, "
                        f"(SELECT COALESCE(jsonb_object_agg(code, basis), '{{}}') FROM {BASIS_TABLE}), "
                        "COALESCE((SELECT array_agg(event_id ORDER BY event_id) FROM applied_events), '{}'), "
                        ":at, :by"
                    ),
                    {
                        "programme": programme_id,
                        "period": period,
                        "revision": revision,
                        "version": stored.version,
                        "document": body,
                        "at": now,
                        "by": by,
                    },
                )
                await self._step(connection, programme_id, period, revision, "submitted", by, now, None)
                return FrozenReport(programme_id, period, revision, stored.version, body, now, by)

    async def reopen(self, programme_id: str, period: int, by: str, note: str | None = None) -> Step:
        """Record that the submitted report is re-opened: a draft again until the next freeze."""
        async with self._engine.begin() as connection:
            await connection.execute(text(_LOCK), {"programme": programme_id, "period": period})
            stored = await stored_programme(connection, programme_id)
            if stored is None:
                raise UnknownReport(f"no programme {programme_id} is defined (crm programme apply)")
            if stored.programme.period(period) is None:
                raise UnknownReport(f"programme {programme_id} has no period {period}")
            steps = await _steps(connection, programme_id, period)
            if status_of(steps) != "submitted":
                raise ReportRefused(
                    f"the report of period {period} of {programme_id} is not submitted "
                    f"({status_of(steps)}): only a submitted report can be re-opened"
                )
            now = datetime.now(UTC)
            revision = steps[-1].revision
            await self._step(connection, programme_id, period, revision, "reopened", by, now, note)
            return Step(revision, "reopened", by, now, note)

    @staticmethod
    async def _step(
        connection: AsyncConnection,
        programme_id: str,
        period: int,
        revision: int,
        step: str,
        by: str,
        at: datetime,
        note: str | None,
    ) -> None:
        await connection.execute(
            text(
                "INSERT INTO report_steps (programme_id, period, revision, step, by, at, note) "
                "VALUES (:programme, :period, :revision, :step, :by, :at, :note)"
            ),
            {"programme": programme_id, "period": period, "revision": revision, "step": step, "by": by, "at": at,
             "note": note},
        )  # fmt: skip


async def frozen_basis(connection: AsyncConnection, report: FrozenReport) -> tuple[dict[str, Any], set[UUID]]:
    """What a frozen revision counted, and the events applied when it was frozen."""
    row = (
        await connection.execute(
            text(
                "SELECT basis, applied_event_ids FROM reports "
                "WHERE programme_id = :programme AND period = :period AND revision = :revision"
            ),
            {"programme": report.programme_id, "period": report.period, "revision": report.revision},
        )
    ).one()
    return row.basis, set(row.applied_event_ids)
