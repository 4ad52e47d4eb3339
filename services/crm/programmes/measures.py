"""The catalogue of measures, read from the read models as items with their evidence.

Each measure is one SQL query over the projector's read models (docs/projection-rules.md) that
returns the items it counts (`crm.programmes.counting.Item`), each with the event that made it
count: the same rules as the programme KPIs, so an indicator and `GET /v1/programme/kpis` agree.

Only SMEs of the programme whose `SMESelected` has been applied count, and a fact of an SME counts
from its own time or the SME's selection, whichever is later (an SME selected in period 3 that
met a buyer in period 2 counts as in matchmaking from period 3).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from crm.programmes.counting import Item, Kind

# The programme's selected SMEs: each SME's earliest SMESelected (its `selected_at`) and the
# business id of the selection whose attributes won (its profile).
_SELECTED = """
WITH selected AS (
    SELECT DISTINCT ON (t.partner_id, t.sme_id)
           t.partner_id, t.sme_id, t.event_id, t.occurred_at AS selected_at, s.country,
           (SELECT p.payload ->> 'business_id' FROM sme_timeline p
             WHERE p.partner_id = s.partner_id AND p.sme_id = s.sme_id
               AND p.event_id = s.profile_key_event_id) AS business_id
    FROM sme_timeline t JOIN smes s USING (partner_id, sme_id)
    WHERE s.programme_id = :programme AND t.event_type = 'SMESelected'
    ORDER BY t.partner_id, t.sme_id, t.occurred_at, t.event_id
)
"""


# The programme's selected SMEs, for the measures that need only when each was selected: the
# read model's `selected_at` is the earliest SMESelected's time.
_OF_PROGRAMME = "sel.programme_id = :programme AND sel.selected_at IS NOT NULL"


def _first_event_per_sme(condition: str) -> str:
    """Each selected SME's earliest timeline event meeting `condition` (alias `t`)."""
    return f"""
SELECT DISTINCT ON (t.partner_id, t.sme_id)
       t.partner_id, t.partner_id || '/' || t.sme_id AS key, t.sme_id, t.sme_id AS subject, t.event_id,
       GREATEST(t.occurred_at, sel.selected_at) AS counts_from, NULL::timestamptz AS counts_until
FROM sme_timeline t JOIN smes sel USING (partner_id, sme_id)
WHERE {_OF_PROGRAMME} AND {condition}
ORDER BY t.partner_id, t.sme_id, t.occurred_at, t.event_id
"""


_DIGITAL_MEETING = "t.event_type = 'MeetingHeld' AND t.payload ->> 'format' = 'digital'"

_AGREEMENTS = f"""
SELECT a.partner_id, {{key}} AS key, a.sme_id, {{subject}} AS subject, a.version_key_event_id AS event_id,
       GREATEST(a.signed_at, sel.selected_at) AS counts_from, NULL::timestamptz AS counts_until
FROM agreements a JOIN smes sel USING (partner_id, sme_id)
WHERE {_OF_PROGRAMME}
  AND (CAST(:agreement_type AS text) IS NULL OR a.agreement_type = :agreement_type)
  AND (CAST(:market AS text) IS NULL OR a.market = :market)
"""

_PILOTS = f"""
SELECT p.partner_id, p.partner_id || '/' || p.sme_id || '/' || p.pilot_id AS key, p.sme_id,
       p.pilot_id AS subject, p.opened_key_event_id AS event_id,
       GREATEST(p.opened_at, sel.selected_at) AS counts_from, {{until}} AS counts_until
FROM pilots p JOIN smes sel USING (partner_id, sme_id)
WHERE {_OF_PROGRAMME} AND p.opened_at IS NOT NULL
"""


_PARAMETERS = (":programme", ":agreement_type", ":market")


@dataclass(frozen=True, slots=True)
class MeasureQuery:
    """How one measure of the catalogue (`crm.programmes.definition.Measure`) is read."""

    name: str
    kind: Kind
    sql: str
    """With `$1` the programme, `$2` the agreement type and `$3` the market filter (or NULL)."""
    stock: bool = False
    """Counted at the end of a period whatever the indicator's mode (pilots in discussion)."""
    filters: frozenset[str] = frozenset()


def _measure(name: str, kind: Kind, sql: str, *, stock: bool = False, filters: Sequence[str] = ()) -> MeasureQuery:
    for number, parameter in enumerate(_PARAMETERS, start=1):
        sql = sql.replace(parameter, f"${number}")
    return MeasureQuery(name, kind, sql, stock, frozenset(filters))


MEASURES: dict[str, MeasureQuery] = {
    m.name: m
    for m in (
        _measure(
            "smes_selected",
            "sme",
            f"""{_SELECTED}
SELECT partner_id, partner_id || '/' || sme_id AS key, sme_id, sme_id AS subject, event_id,
       selected_at AS counts_from, NULL::timestamptz AS counts_until
FROM selected""",
        ),
        _measure(
            "distinct_enterprises_supported",
            "enterprise",
            f"""{_SELECTED}
SELECT partner_id,
       CASE WHEN business_id IS NULL THEN partner_id || '/' || sme_id ELSE country || ':' || business_id END AS key,
       sme_id, COALESCE(country || ':' || business_id, sme_id) AS subject, event_id,
       selected_at AS counts_from, NULL::timestamptz AS counts_until
FROM selected""",
        ),
        _measure("smes_trained", "sme", _first_event_per_sme("t.event_type = 'TrainingCompleted'")),
        _measure("smes_in_matchmaking", "sme", _first_event_per_sme(_DIGITAL_MEETING)),
        _measure(
            "matchmaking_markets",
            "market",
            f"""
SELECT DISTINCT ON (t.partner_id, t.sme_id, t.payload ->> 'market')
       t.partner_id, t.payload ->> 'market' AS key, t.sme_id, t.payload ->> 'market' AS subject, t.event_id,
       GREATEST(t.occurred_at, sel.selected_at) AS counts_from, NULL::timestamptz AS counts_until
FROM sme_timeline t JOIN smes sel USING (partner_id, sme_id)
WHERE {_OF_PROGRAMME} AND {_DIGITAL_MEETING}
ORDER BY t.partner_id, t.sme_id, t.payload ->> 'market', t.occurred_at, t.event_id""",
        ),
        _measure(
            "meetings_held",
            "meeting",
            f"""
SELECT t.partner_id, t.partner_id || '/' || t.event_id AS key, t.sme_id, t.payload ->> 'market' AS subject,
       t.event_id, GREATEST(t.occurred_at, sel.selected_at) AS counts_from, NULL::timestamptz AS counts_until
FROM sme_timeline t JOIN smes sel USING (partner_id, sme_id)
WHERE {_OF_PROGRAMME} AND t.event_type = 'MeetingHeld'""",
        ),
        _measure("pilots_opened", "pilot", _PILOTS.format(until="NULL::timestamptz")),
        _measure("pilots_in_discussion", "pilot", _PILOTS.format(until="p.closed_at"), stock=True),
        _measure(
            "agreements",
            "agreement",
            _AGREEMENTS.format(
                key="a.partner_id || '/' || a.sme_id || '/' || a.agreement_id", subject="a.agreement_id"
            ),
            filters=("agreement_type", "market"),
        ),
        _measure(
            "agreement_markets",
            "market",
            _AGREEMENTS.format(key="a.market", subject="a.market"),
            filters=("agreement_type", "market"),
        ),
    )
}
"""Every measure an indicator may count, by name (the programme file's `measure`)."""


async def measure_items(
    connection: AsyncConnection,
    programme_id: str,
    measure: str,
    *,
    agreement_type: str | None = None,
    market: str | None = None,
) -> list[Item]:
    """The items of `measure` in the programme, whenever they count (the caller cuts by period).
    Read with the driver itself: the rows go straight into items (SQLAlchemy's row processing was
    half the time of a programme's indicators, docs/benchmarks.md)."""
    spec = MEASURES[measure]
    arguments: tuple[object, ...] = (programme_id, agreement_type, market) if spec.filters else (programme_id,)
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    rows = await driver.fetch(spec.sql, *arguments)
    kind = spec.kind
    return [Item(r[0], r[1], kind, r[2], r[3], r[4], r[5], r[6]) for r in rows]
