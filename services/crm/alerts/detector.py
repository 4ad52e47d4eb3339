"""The detector: keeps pilot state, evaluates it on a clock, publishes alerts, remembers them.

Framework-free: the state is any mutable mapping (a Faust table in the service), the publisher
and the controls are ports. One lock serialises event handling and evaluation, so a pilot is
never judged on a state another step is about to replace.

Order on emission: the alert is published (and acknowledged by Kafka) *before* the new state is
stored. A crash in between re-emits the same alert with the same deterministic event id after
restart, which the read model and webhook receivers recognise; the other order could lose it.
"""

import asyncio
from collections.abc import MutableMapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from crm.alerts.clock import Clock
from crm.alerts.rules import (
    Controls,
    Decision,
    PilotState,
    Thresholds,
    alert_event,
    apply_event,
    evaluate,
    pilot_key,
    pilot_named_by,
)
from crm.contract.events import AlertEvent, DomainEvent

log = structlog.get_logger(__name__)


class AlertPublisher(Protocol):
    async def publish(self, events: Sequence[AlertEvent]) -> None:
        """Return once Kafka has stored every event."""
        ...


class ControlsSource(Protocol):
    async def load(self) -> Controls: ...


class Detector:
    def __init__(
        self,
        pilots: MutableMapping[str, PilotState],
        clock: Clock,
        thresholds: Thresholds,
        repeat_interval: timedelta,
        publisher: AlertPublisher,
        controls: ControlsSource,
        *,
        event_time_step: timedelta | None = None,
        backdate: bool = False,
    ) -> None:
        self.pilots = pilots
        self.clock = clock
        self.thresholds = thresholds
        self.repeat_interval = repeat_interval
        self._publisher = publisher
        self._controls_source = controls
        self._controls = Controls()
        # In event-time mode the whole table is evaluated each time "now" moves on this much,
        # so a fast replay does not jump over stalls that began and ended between timer ticks.
        self._event_time_step = event_time_step
        self._evaluated_at: datetime | None = None
        self._backdate = backdate
        self._lock = asyncio.Lock()
        self._clock_seeded = False

    async def on_event(self, event: DomainEvent) -> int:
        """Fold an event into its pilot's state; emit what that changes. Returns alerts emitted."""
        pilot_id = pilot_named_by(event)
        async with self._lock:
            self.clock.observe(event.occurred_at)
            emitted = 0
            now = self.clock.now()
            if self._event_time_due(now):
                assert now is not None
                emitted += await self._evaluate(list(self.pilots.values()), now)
            if pilot_id is None:
                return emitted
            key = pilot_key(event.partner_id, pilot_id)
            state = apply_event(self.pilots.get(key), event)
            assert state is not None
            self.pilots[key] = state
            if now is not None:
                emitted += await self._emit(
                    evaluate([state], now, self.thresholds, self.repeat_interval, self._controls)
                )
            return emitted

    def _event_time_due(self, now: datetime | None) -> bool:
        if self._event_time_step is None or now is None:
            return False
        return self._evaluated_at is None or now - self._evaluated_at >= self._event_time_step

    async def tick(self) -> int:
        """One evaluation of every pilot at the clock's now. Returns alerts emitted."""
        async with self._lock:
            if not self._clock_seeded:  # after a restart, event time resumes from the table
                for state in self.pilots.values():
                    if state.newest_event_at is not None:
                        self.clock.observe(state.newest_event_at)
                self._clock_seeded = True
            now = self.clock.now()
            if now is None:
                return 0
            await self._refresh_controls()
            return await self._evaluate(list(self.pilots.values()), now)

    async def _refresh_controls(self) -> None:
        try:
            self._controls = await self._controls_source.load()
        except Exception as exc:  # PostgreSQL down: keep detecting with what was known
            log.warning("alerts.controls_unavailable", error=repr(exc))

    async def _evaluate(self, states: list[PilotState], now: datetime) -> int:
        self._evaluated_at = now
        return await self._emit(self._decide(states, now))

    def _decide(self, states: list[PilotState], now: datetime) -> list[Decision]:
        return evaluate(states, now, self.thresholds, self.repeat_interval, self._controls, backdate=self._backdate)

    async def _emit(self, decisions: list[Decision]) -> int:
        if not decisions:
            return 0
        await self._publisher.publish([alert_event(decision) for decision in decisions])
        for decision in decisions:
            self.pilots[decision.state.key] = decision.state
            log.info(
                "alerts.emitted",
                kind=decision.kind,
                partner_id=decision.state.partner_id,
                pilot_id=decision.state.pilot_id,
                event_id=str(decision.event_id),
                at=decision.at.isoformat(),
            )
        return len(decisions)
