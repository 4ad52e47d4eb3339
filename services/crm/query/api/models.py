"""Response models of the query API (apart from the tables and from the event contract)."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from crm.alerts.controls import snooze_end


class Freshness(BaseModel):
    scope: Literal["programme", "partner"] = Field(
        description="`programme` (analyst tokens): every partner's events; `partner`: the token's own partner's"
    )
    newest_event_at: str | None = Field(description="Event time of the newest event in the read models (of the scope)")
    last_applied_at: str | None = Field(description="When the projector last applied an event of the scope (wall time)")
    projector_lag: int | None = Field(
        description="Events in crm.events not yet applied; null when Kafka is away, and always for a partner "
        "(Kafka's lag is per partition, shared by several partners: none of it is the partner's own)"
    )
    checked_at: str


class Progress(BaseModel):
    actual: int
    target: int | float | None = Field(
        description="From the programme's indicator counting the same (docs/contract.md); null without one"
    )


class KpiFigures(BaseModel):
    smes_selected: int
    smes_withdrawn: int
    smes_in_matchmaking: int
    matchmaking_markets: list[str]
    agreements_by_type: dict[str, int]
    agreements_by_market: dict[str, int]
    pilots_in_discussion: int
    pilots_stalled: int
    progress: dict[str, Progress]


class ProgrammeKpis(KpiFigures):
    as_of: str | None
    partners: dict[str, KpiFigures]
    freshness: Freshness


class MarketFunnel(BaseModel):
    met: int
    piloting: int
    agreement: int


class Funnel(BaseModel):
    partner_id: str
    as_of: str | None
    stages: dict[str, int]
    by_market: dict[str, MarketFunnel]
    freshness: Freshness


class Sme(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    partner_id: str
    sme_id: str
    programme_id: str = Field(description='The programme of the SME\'s selection (docs/contract.md "Programmes")')
    name: str | None
    country: str | None
    sector: str | None
    target_markets: list[str]
    stage: str | None
    withdrawn: bool
    in_matchmaking: bool
    selected_at: datetime | None
    trained_at: datetime | None
    met_at: datetime | None
    piloting_at: datetime | None
    agreement_at: datetime | None
    matchmaking_at: datetime | None
    withdrawn_at: datetime | None
    last_activity_at: datetime


class SmeMarket(BaseModel):
    market: str
    met_at: datetime | None
    piloting_at: datetime | None
    agreement_at: datetime | None
    matchmaking_at: datetime | None


class TimelineEntry(BaseModel):
    event_id: str
    event_type: str
    occurred_at: datetime
    payload: dict[str, Any]


class SmeDetail(Sme):
    markets: list[SmeMarket]
    timeline: list[TimelineEntry] = Field(
        description="The first page of the SME's applied events in event-time order (at most 50)"
    )
    timeline_total: int = Field(description="How many applied events the SME has in all")
    timeline_next: str | None = Field(
        description="The `cursor` of `GET .../smes/{sme_id}/timeline` for the next page; null when `timeline` is all"
    )
    freshness: Freshness


class TimelinePage(BaseModel):
    items: list[TimelineEntry]
    total: int
    next: str | None
    freshness: Freshness


class Pilot(BaseModel):
    partner_id: str
    pilot_id: str
    sme_id: str
    status: str
    market: str | None
    region: str | None
    counterpart: str | None
    title: str | None
    opened_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    last_activity_at: datetime | None
    agreement_ids: list[str]
    stalled: bool
    stalled_since: datetime | None = Field(description="When the alerts service reported the stall")
    idle_days: int | None = Field(description="Days without activity when last reported (stalled pilots)")
    threshold_days: int | None


class Agreement(BaseModel):
    partner_id: str
    agreement_id: str
    sme_id: str
    agreement_type: str
    market: str
    counterpart: str
    pilot_id: str | None
    value_eur: float | None
    signed_at: datetime


class Alert(BaseModel):
    alert_id: str
    partner_id: str
    pilot_id: str
    sme_id: str
    status: str
    fired_at: datetime
    last_activity_at: datetime
    idle_days: int
    threshold_days: int
    reminders: int
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    snoozed_until: datetime | None


class SnoozeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime = Field(description="No alert nor reminder for the pilot before this instant (RFC 3339)")

    @field_validator("until")
    @classmethod
    def _within_utc(cls, until: datetime) -> datetime:
        snooze_end(until)  # 9999-12-31T23:59:59-01:00 is no instant PostgreSQL can store (422, not 500)
        return until


class Snooze(BaseModel):
    partner_id: str
    pilot_id: str
    snoozed_until: datetime


class Acknowledgement(BaseModel):
    alert_id: UUID
    partner_id: str
    acknowledged_at: datetime


class SmePage(BaseModel):
    items: list[Sme]
    total: int
    next: str | None
    freshness: Freshness


class PilotPage(BaseModel):
    items: list[Pilot]
    total: int
    next: str | None
    freshness: Freshness


class AgreementPage(BaseModel):
    items: list[Agreement]
    total: int
    next: str | None
    freshness: Freshness


class AlertPage(BaseModel):
    items: list[Alert]
    total: int
    next: str | None
    freshness: Freshness


class Me(BaseModel):
    token_id: str
    role: str
    partner_id: str | None


class Status(Freshness):
    status: str


class Problem(BaseModel):
    detail: str
    errors: list[dict[str, Any]] | None = None
