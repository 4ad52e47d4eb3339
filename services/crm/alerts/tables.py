"""The pilot table: one PilotState per `partner_id/pilot_id`, backed by a compacted changelog."""

import asyncio
import zlib
from collections.abc import Iterator, MutableMapping

import faust
from faust.types import TableT

from crm.alerts.rules import PilotState
from crm.alerts.state_codec import dump_state, load_state

PILOTS_TABLE = "pilots"


def create_pilots_table(app: faust.App, partitions: int) -> TableT[str, bytes]:
    return app.Table(PILOTS_TABLE, partitions=partitions, key_type=str, value_type=bytes)


def changelog_topic_name(app: faust.App) -> str:
    return f"{app.conf.id}-{PILOTS_TABLE}-changelog"


class ChangelogWriteFailed(RuntimeError):
    """Kafka refused a write to the table's changelog."""


class PilotTable(MutableMapping[str, PilotState]):
    """The table as decoded PilotState objects: writes go through to Faust's store and changelog,
    reads come from a decoded copy, so evaluating 100,000 pilots decodes nothing.

    Keyed by pilot, not by the SME key of `crm.events`, and written by the timer too, outside any
    stream: Faust would place a changelog record on the partition of the event being processed,
    so the partition is chosen here from the key instead. That assumes one worker holds every
    partition, which is how the alerts service is deployed.
    """

    def __init__(self, table: TableT[str, bytes], partitions: int) -> None:
        self._table = table
        self._partitions = partitions
        self._decoded: dict[str, PilotState] = {}
        self._unacknowledged: list[asyncio.Future[object]] = []
        self._lost: BaseException | None = None
        self.loaded = False

    async def written(self) -> None:
        """Return once Kafka has acknowledged every changelog write made so far; raise if one failed.

        The events consumer awaits this before committing its offsets, so a crash finds either
        the state and the offsets both stored, or neither (and the events are read again). A lost
        write keeps failing every later call: the table is then ahead of its changelog, and only
        a restart (recovery from the changelog, events read again) makes it whole.
        """
        pending = list(self._unacknowledged)
        if pending:
            outcomes = await asyncio.gather(*pending, return_exceptions=True)
            self._unacknowledged = [sent for sent in self._unacknowledged if not sent.done()]
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and self._lost is None:
                    self._lost = outcome
        if self._lost is not None:
            raise ChangelogWriteFailed(f"a pilot state never reached the changelog: {self._lost!r}") from self._lost

    async def reload(self) -> None:
        """After recovery: decode what the changelog restored."""
        self._load()

    def _load(self) -> None:
        self._decoded = {key: load_state(value) for key, value in self._table.items()}
        self.loaded = True

    def _restored(self) -> dict[str, PilotState]:
        # The first event after a restart may arrive before the first timer pass: it must see the
        # recovered states, not an empty copy it would then overwrite (Faust streams only start
        # once recovery is complete, so loading here reads the whole restored table).
        if not self.loaded:
            self._load()
        return self._decoded

    def __getitem__(self, key: str) -> PilotState:
        return self._restored()[key]

    def __setitem__(self, key: str, value: PilotState) -> None:
        self._restored()
        raw = dump_state(value)
        sent = self._table.send_changelog(zlib.crc32(key.encode()) % self._partitions, key, raw)
        self._unacknowledged.append(sent)
        self._table.data[key] = raw
        self._decoded[key] = value

    def __delitem__(self, key: str) -> None:
        raise NotImplementedError("pilots are kept: a closed pilot stays closed")

    def __iter__(self) -> Iterator[str]:
        return iter(self._restored())

    def __len__(self) -> int:
        return len(self._restored())
