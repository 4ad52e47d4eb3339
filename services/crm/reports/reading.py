"""A period's report as a caller reads it: the frozen bytes when submitted, a draft otherwise.

Shared by `crm report` and `GET /v1/programmes/{id}/reports/...`: who may read what is decided
by the caller (an analyst reads the whole report, a partner `partner_slice`).
"""

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.programmes.store import StoredProgramme, stored_programme
from crm.reports.restatements import restatements
from crm.reports.slices import partner_slice
from crm.reports.store import FrozenReport, Lifecycle, UnknownReport, draft_document, encode, frozen_report, lifecycle


@dataclass(frozen=True, slots=True)
class ReportBody:
    body: bytes
    """Canonical JSON: a frozen revision's stored bytes (or its partner slice), or a draft."""
    lifecycle: Lifecycle
    frozen: bool


async def _programme(connection: AsyncConnection, programme_id: str, period: int) -> StoredProgramme:
    stored = await stored_programme(connection, programme_id)
    if stored is None:
        raise UnknownReport(f"no programme {programme_id} is defined (crm programme apply)")
    if stored.programme.period(period) is None:
        raise UnknownReport(f"programme {programme_id} has no period {period}")
    return stored


async def report_body(
    connection: AsyncConnection,
    programme_id: str,
    period: int,
    *,
    partner_id: str | None = None,
    revision: int | None = None,
) -> ReportBody:
    """The submitted report (or one `revision` of it) as frozen; a draft when none is submitted
    (or it was re-opened). A draft is computed under the programme's current version."""
    stored = await _programme(connection, programme_id, period)
    state = await lifecycle(connection, programme_id, period)
    frozen: FrozenReport | None = None
    if revision is not None:
        frozen = await frozen_report(connection, programme_id, period, revision)
        if frozen is None:
            raise UnknownReport(f"the report of period {period} of {programme_id} has no revision {revision}")
    elif state.status == "submitted":
        frozen = state.latest
    if frozen is not None:
        body = frozen.document
        if partner_id is not None:
            body = encode(partner_slice(orjson.loads(body), partner_id))
        return ReportBody(body, state, frozen=True)
    document = await draft_document(connection, stored.programme, stored.version, period)
    document["report"] |= {
        "status": state.status,
        "revision": None,
        "reopened_revision": state.latest.revision if state.latest else None,
    }
    if partner_id is not None:
        document = partner_slice(document, partner_id)
    return ReportBody(encode(document), state, frozen=False)


async def report_restatements(
    connection: AsyncConnection, programme_id: str, period: int, *, partner_id: str | None = None
) -> dict[str, Any]:
    """The restatements of the newest frozen revision (a partner: of its own figures only)."""
    await _programme(connection, programme_id, period)
    latest = await frozen_report(connection, programme_id, period)
    if latest is None:
        raise UnknownReport(f"the report of period {period} of {programme_id} was never frozen: nothing to restate")
    frozen_under = await stored_programme(connection, programme_id, latest.programme_version)
    assert frozen_under is not None  # the foreign key keeps it
    found = await restatements(connection, frozen_under.programme, latest)
    if partner_id is not None:
        found["restatements"] = [r for r in found["restatements"] if r["partner_id"] == partner_id]
    return found


def lifecycle_json(programme_id: str, period: int, state: Lifecycle) -> dict[str, Any]:
    return {
        "programme_id": programme_id,
        "period": period,
        "status": state.status,
        "revision": state.latest.revision if state.latest else None,
        "steps": [step.as_json() for step in state.steps],
    }


async def report_series(
    connection: AsyncConnection, programme_id: str, period: int, *, partner_id: str | None = None
) -> list[dict[str, Any]]:
    """Each period up to `period`, for charts: its number, end, status and each indicator's
    cumulative value and target (from its submitted revision, else today's draft)."""
    stored = await _programme(connection, programme_id, period)
    series = []
    for earlier in (p for p in stored.programme.periods if p.number <= period):
        found = orjson.loads((await report_body(connection, programme_id, earlier.number, partner_id=partner_id)).body)
        series.append(
            {
                "period": earlier.number,
                "end": earlier.end.isoformat(),
                "status": found["report"]["status"],
                "indicators": {
                    i["code"]: {"cumulative": i["cumulative"], "target": i["target"], "milestone": i["milestone"]}
                    for i in found["indicators"]
                },
            }
        )
    return series
