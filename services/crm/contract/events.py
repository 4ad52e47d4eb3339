"""The event contract (docs/contract.md), current version: one envelope, one payload model per
event type.

Every model is strict and closed: unknown fields, wrong types, unknown codes and naive
timestamps are refused. This module is the single source of the JSON Schema files and the
AsyncAPI document in `schemas/`, of validation at the gateway and of decoding in consumers.
Older versions of the domain events are frozen in `crm.contract.v1` (and so on) and reach the
code only upcast to this one (`crm.contract.upcasting`).
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self, Union
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_serializer, field_validator

from crm.contract.business_ids import REGISTRIES, normalised_business_id
from crm.contract.fields import (
    AmountEur,
    BusinessId,
    CountryCode,
    EntityId,
    EventTime,
    LongText,
    PartnerId,
    PositiveHours,
    ProgrammeId,
    ShortText,
)

SCHEMA_VERSION = 2
"""The version of the domain events this release writes and hands its consumers."""
ALERT_SCHEMA_VERSION = 1
"""The alerts topic's events have a version of their own (no programme yet)."""


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SMESelectedPayload(Payload):
    name: ShortText
    country: CountryCode
    sector: ShortText
    target_markets: Annotated[list[CountryCode], Field(max_length=50)]
    # Version 2: the company's national registry code, checked for `country` and kept compact.
    business_id: Annotated[
        BusinessId | None,
        Field(
            description="The company's national business registry code (version 2), checked for `country` where "
            f"a check is known ({', '.join(sorted(REGISTRIES))}) and kept in its compact form; one company selected "
            "by two partners counts once among the distinct enterprises supported"
        ),
    ] = None

    @field_validator("business_id")
    @classmethod
    def _registry_code_of_its_country(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if value is None or country is None:  # a bad country is reported on its own
            return value
        return normalised_business_id(country, value)


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


class EnvelopeBase(BaseModel):
    """What every envelope of every version shares: strict, closed, UTC on the wire."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @field_serializer("occurred_at", check_fields=False)
    def _utc_rfc3339(self, value: datetime) -> str:
        return rfc3339(value)

    @property
    def kafka_key(self) -> bytes:
        return f"{self.partner_id}/{self.sme_id}".encode()  # type: ignore[attr-defined]


class Envelope(EnvelopeBase):
    """The domain envelope, version 2: version 1 (`crm.contract.v1`) and `programme_id`, the
    programme the event belongs to. Subclasses fix `event_type` and the payload model."""

    event_id: UUID
    event_type: str
    schema_version: Literal[2]
    occurred_at: EventTime
    partner_id: PartnerId
    programme_id: ProgrammeId
    sme_id: EntityId

    # The version the sender wrote it in (`crm.contract.upcasting` sets it): its identity is its
    # content as written (`crm.contract.identity`), so upcasting never changes who is who.
    _written_in: int = PrivateAttr(default=SCHEMA_VERSION)
    # Its canonical encoding once `crm.contract.decoding.encode_event` made it: the gateway hashes
    # and publishes each event, and the model is frozen, so it is encoded once.
    _encoded: bytes | None = PrivateAttr(default=None)

    @property
    def written_in(self) -> int:
        return self.__pydantic_private__["_written_in"]  # type: ignore[index, no-any-return]

    def __eq__(self, other: object) -> bool:
        # Pydantic compares private attributes too: the cached encoding is not part of the event.
        if not isinstance(other, Envelope):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__ and self.written_in == other.written_in

    def __hash__(self) -> int:
        return hash((type(self), self.partner_id, self.event_id))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy.__pydantic_private__["_encoded"] = None  # type: ignore[index]
        return copy


class AlertEnvelope(EnvelopeBase):
    """The envelope of the alerts service's events (`crm.alerts`), still at its version 1."""

    event_id: UUID
    event_type: str
    schema_version: Literal[1]
    occurred_at: EventTime
    partner_id: PartnerId
    sme_id: EntityId


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


class PilotStalled(AlertEnvelope):
    """Emitted by the alerts service; never accepted from partners."""

    event_type: Literal["PilotStalled"]
    payload: PilotStalledPayload


class PilotStallResolved(AlertEnvelope):
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
ALERT_EVENT_TYPES: tuple[type[AlertEnvelope], ...] = AlertEvent.__args__  # type: ignore[attr-defined]
