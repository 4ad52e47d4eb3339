"""Read the projector's rows (from PostgreSQL or from the pure fold) in the reference's shape."""

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.db.tables import agreements, pilots, sme_markets, smes
from crm.projector.rules import SmeState

Models = dict[str, dict[tuple[str, ...], dict[str, Any]]]


def normalised(
    sme_rows: Iterable[Mapping[str, Any]],
    market_rows: Iterable[Mapping[str, Any]],
    pilot_rows: Iterable[Mapping[str, Any]],
    agreement_rows: Iterable[Mapping[str, Any]],
) -> Models:
    return {
        "smes": {
            (r["partner_id"], r["sme_id"]): {
                "programme_id": r["programme_id"],
                "name": r["name"],
                "country": r["country"],
                "sector": r["sector"],
                "target_markets": list(r["target_markets"]),
                "withdrawn": r["withdrawn"],
                "first_activity_at": r["first_activity_at"],
                "last_activity_at": r["last_activity_at"],
                "stage": r["stage"],
                "in_matchmaking": r["matchmaking_at"] is not None,
            }
            for r in sme_rows
        },
        "sme_markets": {
            (r["partner_id"], r["sme_id"], r["market"]): {
                "reached": {s for s in ("met", "piloting", "agreement") if r[f"{s}_at"] is not None},
                "digital": r["matchmaking_at"] is not None,
            }
            for r in market_rows
        },
        "pilots": {
            (r["partner_id"], r["sme_id"], r["pilot_id"]): {
                k: (list(r[k]) if k == "agreement_ids" else r[k])
                for k in (
                    "market",
                    "region",
                    "counterpart",
                    "opened_at",
                    "closed_at",
                    "outcome",
                    "last_activity_at",
                    "status",
                    "agreement_ids",
                )
            }
            for r in pilot_rows
        },
        "agreements": {
            (r["partner_id"], r["sme_id"], r["agreement_id"]): {
                "agreement_type": r["agreement_type"],
                "market": r["market"],
                "counterpart": r["counterpart"],
                "pilot_id": r["pilot_id"],
                "value_eur": None if r["value_eur"] is None else float(r["value_eur"]),
                "signed_at": r["signed_at"],
            }
            for r in agreement_rows
        },
    }


def _fields(row: object) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}  # type: ignore[attr-defined]


def models_of_states(states: Iterable[SmeState]) -> Models:
    states = list(states)
    return normalised(
        (_fields(s.sme) for s in states),
        (_fields(m) for s in states for m in s.markets.values()),
        (_fields(p) for s in states for p in s.pilots.values()),
        (_fields(a) for s in states for a in s.agreements.values()),
    )


async def models_in_database(connection: AsyncConnection, partner_id: str | None = None) -> Models:
    async def rows(table: Any) -> list[Mapping[str, Any]]:
        query = select(table)
        if partner_id is not None:
            query = query.where(table.c.partner_id == partner_id)
        return list((await connection.execute(query)).mappings())

    return normalised(await rows(smes), await rows(sme_markets), await rows(pilots), await rows(agreements))


def only_partner(models: Models, partner_id: str) -> Models:
    return {table: {k: v for k, v in rows.items() if k[0] == partner_id} for table, rows in models.items()}
