"""Pilot state as bytes for the table's changelog (compact JSON), and back."""

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from crm.alerts.rules import PilotState, Stall


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def dump_state(state: PilotState) -> bytes:
    stall = state.stall
    body: dict[str, Any] = {
        "partner_id": state.partner_id,
        "pilot_id": state.pilot_id,
        "sme_id": state.sme_id,
        "market": state.market,
        "opened": state.opened,
        "closed_by": state.closed_by,
        "last_activity_at": state.last_activity_at,
        "last_activity_event": state.last_activity_event,
        "newest_event_at": state.newest_event_at,
        "stall": None
        if stall is None
        else {
            "alert_id": stall.alert_id,
            "last_activity_at": stall.last_activity_at,
            "fired_at": stall.fired_at,
            "notified_at": stall.notified_at,
            "threshold_days": stall.threshold_days,
            "reminders": stall.reminders,
        },
    }
    return orjson.dumps(body)


def load_state(raw: bytes) -> PilotState:
    body = orjson.loads(raw)
    stall = body["stall"]
    return PilotState(
        partner_id=body["partner_id"],
        pilot_id=body["pilot_id"],
        sme_id=body["sme_id"],
        market=body["market"],
        opened=body["opened"],
        closed_by=_uuid(body["closed_by"]),
        last_activity_at=_time(body["last_activity_at"]),
        last_activity_event=_uuid(body["last_activity_event"]),
        newest_event_at=_time(body["newest_event_at"]),
        stall=None
        if stall is None
        else Stall(
            alert_id=UUID(stall["alert_id"]),
            last_activity_at=datetime.fromisoformat(stall["last_activity_at"]),
            fired_at=datetime.fromisoformat(stall["fired_at"]),
            notified_at=datetime.fromisoformat(stall["notified_at"]),
            threshold_days=stall["threshold_days"],
            reminders=stall["reminders"],
        ),
    )
