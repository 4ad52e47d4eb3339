"""What "now" is for the detector: the wall clock, the newest event seen, or a file a drill controls."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime | None:
        """The current instant, or None while it is not known yet (nothing to evaluate)."""
        ...

    def observe(self, occurred_at: datetime) -> None:
        """An event happened at `occurred_at` (only event time cares)."""
        ...


class WallClock:
    """Production: the real time."""

    def now(self) -> datetime | None:
        return datetime.now(UTC)

    def observe(self, occurred_at: datetime) -> None:
        pass


class EventTimeClock:
    """Replaying history: now is the newest `occurred_at` seen, so a replay of 2019-2021 shows
    the pilots that were stalled back then, when they were."""

    def __init__(self) -> None:
        self.latest: datetime | None = None

    def now(self) -> datetime | None:
        return self.latest

    def observe(self, occurred_at: datetime) -> None:
        if self.latest is None or occurred_at > self.latest:
            self.latest = occurred_at


class FileClock:
    """A controlled clock: the RFC 3339 instant written in a file (tests and fire drills)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def now(self) -> datetime | None:
        try:
            text = self._path.read_text().strip()
        except FileNotFoundError:
            return None
        if not text:
            return None
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if value.tzinfo is None:
            raise ValueError(f"{self._path}: the instant needs a time zone")
        return value

    def observe(self, occurred_at: datetime) -> None:
        pass
