"""The catalogue of measures, read from the read models as items with their evidence, or counted.

Each measure is read two ways over the projector's read models (docs/projection-rules.md), by the
same rules as the programme KPIs, so an indicator and `GET /v1/programme/kpis` agree:

- its *items* (`crm.programmes.counting.Item`), each with the event that made it count: what an
  indicator's evidence lists (`measure_items`);
- its *counts*: each item's partner, key and when it counts from (and until), without the event,
  read from the earliest-time columns the projector keeps (`smes.selected_at`, `trained_at`,
  `matchmaking_at`, `sme_markets.matchmaking_at`, ...) instead of searching the timeline for the
  earliest event, and counted per period in SQL by the rule of `crm.programmes.counting.counted`
  (`measure_values`): what an indicator's values are. Only a few rows per period and partner
  come back (reading every item into Python cost more than the SQL itself, docs/benchmarks.md).
  tests/integration/test_indicator_values.py holds the two ways equal.

Only SMEs of the programme whose `SMESelected` has been applied count, and a fact of an SME counts
from its own time or the SME's selection, whichever is later (an SME selected in period 3 that
met a buyer in period 2 counts as in matchmaking from period 3).
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

from sqlalchemy.ext.asyncio import AsyncConnection

from crm.db.engine import driver_connection
from crm.programmes.counting import Item, Kind, Value, Window

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
      AND (CAST(:partner AS text) IS NULL OR s.partner_id = :partner)
    ORDER BY t.partner_id, t.sme_id, t.occurred_at, t.event_id
)
"""


# The programme's selected SMEs (of one partner, when asked), for the measures that need only when
# each was selected: the read model's `selected_at` is the earliest SMESelected's time.
_OF_PROGRAMME = (
    "sel.programme_id = :programme AND sel.selected_at IS NOT NULL"
    " AND (CAST(:partner AS text) IS NULL OR sel.partner_id = :partner)"
)


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


# Each selected SME's earliest fact of a kind is the read model's earliest-time column: the counts
# of the measures that search the timeline for it in their items.
_SME_SINCE = """
SELECT sel.partner_id, sel.partner_id || '/' || sel.sme_id AS key,
       GREATEST({column}, sel.selected_at) AS counts_from, NULL::timestamptz AS counts_until
FROM smes sel
WHERE {of_programme} AND {column} IS NOT NULL
"""

# The values of an indicator: the distinct keys counted in each window, per partner and
# programme-wide, by the rule of `crm.programmes.counting.counted`, for windows in time order that
# do not overlap (a programme's periods). `:after` holds the first instant after each window (its
# end + 1 µs, timestamps' resolution), so `width_bucket(t, :after)` is the number of windows over
# before `t`: what counts from `t` counts from that window on (0-based). Each query returns a few
# rows of (first window, window after the last, partner or NULL for the programme, how many).
#
# Cumulatively (for what never stops counting: not a stock), a key counts from its earliest item
# on: each partner's keys, and the programme's, are reduced to their first time and counted by
# the window they begin in.
_CUMULATIVE = """
WITH counts AS ({counts}),
own AS (SELECT partner_id, key, min(counts_from) AS first FROM counts GROUP BY partner_id, key)
SELECT width_bucket(first, CAST(:after AS timestamptz[])), NULL::int, partner_id, count(*) FROM own GROUP BY 1, 3
UNION ALL
SELECT width_bucket(first, CAST(:after AS timestamptz[])), NULL::int, NULL, count(*)
FROM (SELECT key, min(first) AS first FROM own GROUP BY key) shared GROUP BY 1
"""

# A measure whose every key is one item (an SME, a meeting, a pilot, an agreement: a row of the
# table keyed by it, and its key names its partner) counts its items, each over the windows it
# counts in: in a period, the one it begins in (when it begins inside it); else from the window it
# begins in to the last that ends before it stops (a stock).
_ONE_PER_KEY = """
WITH counts AS ({counts}),
begins AS (SELECT counts_from, counts_until, width_bucket(counts_from, CAST(:after AS timestamptz[])) AS first,
                  partner_id FROM counts)
SELECT first,
       CASE WHEN CAST(:since_start AS boolean)
            THEN CASE WHEN counts_from >= (CAST(:starts AS timestamptz[]))[first + 1] THEN first + 1 ELSE first END
            ELSE width_bucket(counts_until, CAST(:after AS timestamptz[])) END,
       partner_id, count(*)
FROM begins GROUP BY 1, 2, 3
"""

# Anything else (keys several items share, counted in a period or as a stock; windows that
# overlap): what counts in each window `n` (1-based), keys made distinct. As general as
# `counted`, and the slowest: every item is compared with every window.
_IN_EACH_WINDOW = """
WITH counts AS ({counts}),
cuts AS (
    SELECT n, start_at, end_at
    FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) WITH ORDINALITY AS c(start_at, end_at, n)
),
hits AS (
    SELECT DISTINCT c.n, i.partner_id, i.key
    FROM cuts c JOIN counts i
      ON (c.start_at IS NULL OR i.counts_from >= c.start_at) AND i.counts_from <= c.end_at
     AND (i.counts_until IS NULL OR i.counts_until > c.end_at)
)
SELECT n - 1, n, partner_id, count(*) FROM hits GROUP BY n, partner_id
UNION ALL
SELECT n - 1, n, NULL, count(DISTINCT key) FROM hits GROUP BY n
"""

_RESOLUTION = timedelta(microseconds=1)  # of PostgreSQL's timestamps and Python's datetimes
_PARAMETER = re.compile(r"(?<!:):(programme|partner|agreement_type|market|since_start|starts|ends|after)\b")


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with its named parameters as `$1`, `$2`, ... and their names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return _PARAMETER.sub(number, sql), tuple(names)


@dataclass(frozen=True, slots=True)
class MeasureQuery:
    """How one measure of the catalogue (`crm.programmes.definition.Measure`) is read."""

    name: str
    kind: Kind
    sql: str
    """The items, with `$n` the parameters `parameters` names (the programme, the partner or NULL,
    and for a filtered measure the agreement type and market filters or NULL)."""
    parameters: tuple[str, ...]
    counting: dict[str, tuple[str, tuple[str, ...]]]
    """The values, by how they are counted (`_CUMULATIVE`, ...): the SQL and its parameters' names."""
    stock: bool = False
    """Counted at the end of a period whatever the indicator's mode (pilots in discussion)."""
    filters: frozenset[str] = frozenset()
    one_per_key: bool = False
    """Each key is one item (of the programme: its key names its partner)."""


def _measure(
    name: str,
    kind: Kind,
    sql: str,
    *,
    counts: str | None = None,
    stock: bool = False,
    filters: Sequence[str] = (),
    one_per_key: bool = False,
) -> MeasureQuery:
    """`counts`: each item's partner_id, key, counts_from and counts_until, read without the events
    when the items search the timeline for them; by default the items' own columns (the query is
    flattened: the evidence's columns are not computed)."""
    if counts is None:
        counts = f"SELECT items.partner_id, items.key, items.counts_from, items.counts_until FROM ({sql}) items"
    items, parameters = _numbered(sql)
    templates = {"cumulative": _CUMULATIVE, "one_per_key": _ONE_PER_KEY, "in_each_window": _IN_EACH_WINDOW}
    counting = {way: _numbered(template.format(counts=counts)) for way, template in templates.items()}
    return MeasureQuery(name, kind, items, parameters, counting, stock, frozenset(filters), one_per_key)


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
            counts=_SME_SINCE.format(column="sel.selected_at", of_programme=_OF_PROGRAMME),
            one_per_key=True,
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
            # The profile's business id: its event is an SMESelected (saying so lets PostgreSQL
            # hash those alone, not the whole timeline).
            counts=f"""
SELECT sel.partner_id,
       CASE WHEN p.payload ->> 'business_id' IS NULL THEN sel.partner_id || '/' || sel.sme_id
            ELSE sel.country || ':' || (p.payload ->> 'business_id') END AS key,
       sel.selected_at AS counts_from, NULL::timestamptz AS counts_until
FROM smes sel
LEFT JOIN sme_timeline p ON p.partner_id = sel.partner_id AND p.sme_id = sel.sme_id
                        AND p.event_id = sel.profile_key_event_id AND p.event_type = 'SMESelected'
WHERE {_OF_PROGRAMME}""",
        ),
        _measure(
            "smes_trained",
            "sme",
            _first_event_per_sme("t.event_type = 'TrainingCompleted'"),
            counts=_SME_SINCE.format(column="sel.trained_at", of_programme=_OF_PROGRAMME),
            one_per_key=True,
        ),
        _measure(
            "smes_in_matchmaking",
            "sme",
            _first_event_per_sme(_DIGITAL_MEETING),
            counts=_SME_SINCE.format(column="sel.matchmaking_at", of_programme=_OF_PROGRAMME),
            one_per_key=True,
        ),
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
            counts=f"""
SELECT m.partner_id, m.market AS key,
       GREATEST(m.matchmaking_at, sel.selected_at) AS counts_from, NULL::timestamptz AS counts_until
FROM sme_markets m JOIN smes sel USING (partner_id, sme_id)
WHERE {_OF_PROGRAMME} AND m.matchmaking_at IS NOT NULL""",
        ),
        _measure(
            "meetings_held",
            "meeting",
            f"""
SELECT t.partner_id, t.partner_id || '/' || t.event_id AS key, t.sme_id, t.payload ->> 'market' AS subject,
       t.event_id, GREATEST(t.occurred_at, sel.selected_at) AS counts_from, NULL::timestamptz AS counts_until
FROM sme_timeline t JOIN smes sel USING (partner_id, sme_id)
WHERE {_OF_PROGRAMME} AND t.event_type = 'MeetingHeld'""",
            one_per_key=True,  # an event id is applied once per partner
        ),
        _measure("pilots_opened", "pilot", _PILOTS.format(until="NULL::timestamptz"), one_per_key=True),
        _measure("pilots_in_discussion", "pilot", _PILOTS.format(until="p.closed_at"), stock=True, one_per_key=True),
        _measure(
            "agreements",
            "agreement",
            _AGREEMENTS.format(
                key="a.partner_id || '/' || a.sme_id || '/' || a.agreement_id", subject="a.agreement_id"
            ),
            filters=("agreement_type", "market"),
            one_per_key=True,
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
    partner_id: str | None = None,
    agreement_type: str | None = None,
    market: str | None = None,
) -> list[Item]:
    """The items of `measure` in the programme (of one partner, when given), whenever they count
    (the caller cuts by period). Read with the driver itself: the rows go straight into items
    (SQLAlchemy's row processing was half the time of a programme's indicators, docs/benchmarks.md)."""
    spec = MEASURES[measure]
    given = {"programme": programme_id, "partner": partner_id, "agreement_type": agreement_type, "market": market}
    rows = await (await driver_connection(connection)).fetch(spec.sql, *(given[name] for name in spec.parameters))
    kind = spec.kind
    return [Item(r[0], r[1], kind, r[2], r[3], r[4], r[5], r[6]) for r in rows]


async def measure_values(
    connection: AsyncConnection,
    programme_id: str,
    measure: str,
    windows: Sequence[Window],
    *,
    in_period: bool = False,
    partners: Iterable[str] = (),
    partner_id: str | None = None,
    agreement_type: str | None = None,
    market: str | None = None,
) -> list[Value]:
    """For each window, `value_of(counted(items, window, mode, stock=...), partners)` over the items
    `measure_items` reads with the same arguments: counted in SQL, from the read models'
    earliest-time columns, one query for every window, without reading the items."""
    if not windows:
        return []
    spec = MEASURES[measure]
    since_start = in_period and not spec.stock
    in_order = all(before.end < after.start for before, after in pairwise(windows))
    if in_order and spec.one_per_key:
        way = "one_per_key"
    elif in_order and not since_start and not spec.stock:
        way = "cumulative"
    else:
        way = "in_each_window"
    given = {
        "programme": programme_id,
        "partner": partner_id,
        "agreement_type": agreement_type,
        "market": market,
        "since_start": since_start,
        "starts": [w.start if since_start else None for w in windows],
        "ends": [w.end for w in windows],
        "after": [w.end + _RESOLUTION for w in windows],
    }
    sql, parameters = spec.counting[way]
    rows = await (await driver_connection(connection)).fetch(sql, *(given[name] for name in parameters))
    listed = list(partners)
    totals = [0] * len(windows)
    by_partner: list[dict[str, int]] = [dict.fromkeys(listed, 0) for _ in windows]
    partners_add_up = way == "one_per_key"  # no key of two partners: the programme's is their sum
    for first, last, partner, count in rows:
        for n in range(first, len(windows) if last is None else last):  # the windows it counts in
            if partner is None or partners_add_up:
                totals[n] += count
            if partner is not None:
                by_partner[n][partner] = by_partner[n].get(partner, 0) + count
    return [Value(total, dict(sorted(counts.items()))) for total, counts in zip(totals, by_partner, strict=True)]
