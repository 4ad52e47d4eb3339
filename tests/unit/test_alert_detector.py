"""The detector with hand-written fakes: what it publishes, what it remembers, in which order."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm.alerts.clock import EventTimeClock, FileClock
from crm.alerts.detector import Detector
from crm.alerts.rules import Controls, PilotState, Thresholds
from crm.alerts.state_codec import dump_state, load_state
from crm.alerts.webhooks import backoff, signature, verify_signature
from crm.contract.decoding import decode_event
from crm.contract.events import AlertEvent, DomainEvent
from tests.support.events import envelope

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def opened(pilot: str, day: float) -> DomainEvent:
    when = (T0 + timedelta(days=day)).isoformat().replace("+00:00", "Z")
    payload = {"pilot_id": pilot, "market": "CN", "counterpart": "Huangpu"}
    return decode_event(json.dumps(envelope("PilotOpened", payload, occurred_at=when)))


class SettableClock:
    def __init__(self) -> None:
        self.value: datetime | None = None

    def now(self) -> datetime | None:
        return self.value

    def observe(self, occurred_at: datetime) -> None:
        pass


class RecordingPublisher:
    def __init__(self, pilots: dict[str, PilotState]) -> None:
        self.published: list[AlertEvent] = []
        self.state_when_published: list[PilotState] = []
        self._pilots = pilots
        self.fail = False

    async def publish(self, events: Sequence[AlertEvent]) -> None:
        if self.fail:
            raise ConnectionError("Kafka is down")
        for event in events:
            self.state_when_published.append(self._pilots[f"{event.partner_id}/{event.payload.pilot_id}"])
        self.published.extend(events)


class FixedControls:
    def __init__(self, controls: Controls | None = None) -> None:
        self.controls = controls or Controls()

    async def load(self) -> Controls:
        return self.controls


def detector(pilots: dict[str, PilotState], clock: SettableClock) -> tuple[Detector, RecordingPublisher]:
    publisher = RecordingPublisher(pilots)
    found = Detector(pilots, clock, Thresholds(), timedelta(days=7), publisher, FixedControls())
    return found, publisher


async def test_publishes_before_remembering_and_never_twice() -> None:
    pilots: dict[str, PilotState] = {}
    clock = SettableClock()
    found, publisher = detector(pilots, clock)
    await found.on_event(opened("p-1", 0))
    assert await found.tick() == 0  # no clock yet
    clock.value = T0 + timedelta(days=31)
    assert await found.tick() == 1
    assert publisher.state_when_published[0].stall is None  # stored only after Kafka had it
    assert pilots["tehnopol/p-1"].stall is not None
    assert await found.tick() == 0


async def test_a_failed_publish_keeps_the_state_so_the_alert_comes_again_with_the_same_id() -> None:
    pilots: dict[str, PilotState] = {}
    clock = SettableClock()
    found, publisher = detector(pilots, clock)
    await found.on_event(opened("p-1", 0))
    clock.value = T0 + timedelta(days=31)
    publisher.fail = True
    with pytest.raises(ConnectionError):
        await found.tick()
    assert pilots["tehnopol/p-1"].stall is None
    publisher.fail = False
    await found.tick()
    assert len(publisher.published) == 1


def event_time_detector(pilots: dict[str, PilotState]) -> tuple[Detector, RecordingPublisher]:
    publisher = RecordingPublisher(pilots)
    found = Detector(
        pilots,
        EventTimeClock(),
        Thresholds(),
        timedelta(days=100),
        publisher,
        FixedControls(),
        event_time_step=timedelta(days=1),
        backdate=True,
    )
    return found, publisher


async def test_event_time_resumes_from_the_kept_state_after_a_restart() -> None:
    pilots: dict[str, PilotState] = {}
    first, publisher = event_time_detector(pilots)
    await first.on_event(opened("p-1", 0))
    await first.on_event(opened("p-2", 40))  # now is day 40 in event time: p-1 stalled at day 30
    assert [a.occurred_at for a in publisher.published] == [T0 + timedelta(days=30)]
    restarted, again = event_time_detector(pilots)
    assert await restarted.tick() == 0  # the stall was remembered; the clock resumed at day 40
    assert again.published == []
    assert restarted.clock.now() == T0 + timedelta(days=40)


def test_pilot_state_survives_the_changelog_encoding() -> None:
    state = PilotState("tehnopol", "p-1", "sme", "CN", True, None, T0, None, T0)
    assert load_state(dump_state(state)) == state


def test_the_file_clock_reads_an_rfc3339_instant(tmp_path: Path) -> None:
    clock = FileClock(tmp_path / "now")
    assert clock.now() is None
    (tmp_path / "now").write_text("2020-02-01T00:00:00Z\n")
    assert clock.now() == datetime(2020, 2, 1, tzinfo=UTC)


def test_signatures_and_backoff() -> None:
    body = b'{"event_id":"x"}'
    header = signature(body, "key")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(body, "key", header)
    assert not verify_signature(body + b" ", "key", header)
    assert not verify_signature(body, "other", header)
    assert not verify_signature(body, "key", None)
    assert [backoff(n, 2, 60).total_seconds() for n in (1, 2, 3, 4, 5, 6, 7)] == [2, 4, 8, 16, 32, 60, 60]
