"""The event contract (docs/contract.md): one envelope, one payload model per event type.

Every model is strict and closed: unknown fields, wrong types, unknown codes and naive
timestamps are refused. This module is the single source of the JSON Schema files and the
AsyncAPI document in `schemas/`, of validation at the gateway and of decoding in consumers.
"""

from datetime import UTC, datetime
from typing import Annotated, Literal, Union
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from crm.contract.fields import (
    AmountEur,
    CountryCode,
    EntityId,
    EventTime,
    LongText,
    PartnerId,
    PositiveHours,
    ShortText,
)

SCHEMA_VERSION = 1


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SMESelectedPayload(Payload):
    name: ShortText
    country: CountryCode
    sector: ShortText
    target_markets: Annotated[list[CountryCode], Field(max_length=50)]


class TrainingCompletedPayload(Payload):
    training: ShortText
    hours: PositiveHours | None = None


class MeetingHeldPayload(Payload):
    market: CountryCode
    region: ShortText | None = None
    counterpart: ShortText
    format: Literal["digital", "physical"]
    pilot_id: EntityId | None = None
    notes: LongText | None = None


class PilotOpenedPayload(Payload):
    pilot_id: EntityId
    market: CountryCode
    region: ShortText | None = None
    counterpart: ShortText
    title: ShortText | None = None


class PilotUpdatedPayload(Payload):
    pilot_id: EntityId
    note: LongText


class PilotClosedPayload(Payload):
    pilot_id: EntityId
    outcome: Literal["won", "lost", "withdrawn"]
    note: LongText | None = None


AgreementType = Literal["sales", "commercial_representation", "distribution", "licence", "other"]


class AgreementSignedPayload(Payload):
    agreement_id: EntityId
    agreement_type: AgreementType
    market: CountryCode
    counterpart: ShortText
    pilot_id: EntityId | None = None
    value_eur: AmountEur | None = None


class SMEWithdrawnPayload(Payload):
    reason: LongText | None = None


class PilotStalledPayload(Payload):
    pilot_id: EntityId
    last_activity_at: EventTime
    idle_days: Annotated[int, Field(ge=0)]
    threshold_days: Annotated[int, Field(ge=1)]


class PilotStallResolvedPayload(Payload):
    pilot_id: EntityId
    resolved_by: UUID


class Envelope(BaseModel):
    """Fields every event carries; subclasses fix `event_type` and the payload model."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    event_id: UUID
    event_type: str
    schema_version: Literal[1]
    occurred_at: EventTime
    partner_id: PartnerId
    sme_id: EntityId

    @field_serializer("occurred_at")
    def _utc_rfc3339(self, value: datetime) -> str:
        return rfc3339(value)

    @property
    def kafka_key(self) -> bytes:
        return f"{self.partner_id}/{self.sme_id}".encode()


def rfc3339(value: datetime) -> str:
    """The instant in UTC, RFC 3339 with a `Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class SMESelected(Envelope):
    event_type: Literal["SMESelected"]
    payload: SMESelectedPayload


class TrainingCompleted(Envelope):
    event_type: Literal["TrainingCompleted"]
    payload: TrainingCompletedPayload


class MeetingHeld(Envelope):
    event_type: Literal["MeetingHeld"]
    payload: MeetingHeldPayload


class PilotOpened(Envelope):
    event_type: Literal["PilotOpened"]
    payload: PilotOpenedPayload


class PilotUpdated(Envelope):
    event_type: Literal["PilotUpdated"]
    payload: PilotUpdatedPayload


class PilotClosed(Envelope):
    event_type: Literal["PilotClosed"]
    payload: PilotClosedPayload


class AgreementSigned(Envelope):
    event_type: Literal["AgreementSigned"]
    payload: AgreementSignedPayload


class SMEWithdrawn(Envelope):
    event_type: Literal["SMEWithdrawn"]
    payload: SMEWithdrawnPayload


class PilotStalled(Envelope):
    """Emitted by the alerts service; never accepted from partners."""

    event_type: Literal["PilotStalled"]
    payload: PilotStalledPayload


class PilotStallResolved(Envelope):
    """Emitted by the alerts service; never accepted from partners."""

    event_type: Literal["PilotStallResolved"]
    payload: PilotStallResolvedPayload


DomainEvent = Union[
    SMESelected,
    TrainingCompleted,
    MeetingHeld,
    PilotOpened,
    PilotUpdated,
    PilotClosed,
    AgreementSigned,
    SMEWithdrawn,
]
"""Events partner systems send (the `crm.events` topic)."""

AlertEvent = Union[PilotStalled, PilotStallResolved]
"""Events the alerts service emits (the `crm.alerts` topic)."""

DOMAIN_EVENT_TYPES: tuple[type[Envelope], ...] = DomainEvent.__args__  # type: ignore[attr-defined]
ALERT_EVENT_TYPES: tuple[type[Envelope], ...] = AlertEvent.__args__  # type: ignore[attr-defined]
