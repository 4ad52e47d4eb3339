"""The pilot table's decoded copy after a restart (a hand-written fake of Faust's table)."""

from datetime import UTC, datetime
from typing import Any

from crm.alerts.rules import PilotState
from crm.alerts.state_codec import dump_state
from crm.alerts.tables import PilotTable


class RestoredTable:
    """What Faust's memory table holds once recovery has replayed the changelog."""

    def __init__(self, rows: dict[str, bytes]) -> None:
        self.data = dict(rows)
        self.changelog: list[tuple[int, str, bytes]] = []

    def items(self) -> Any:
        return self.data.items()

    def send_changelog(self, partition: int, key: str, value: bytes) -> None:
        self.changelog.append((partition, key, value))


def test_the_first_event_after_a_restart_sees_the_restored_states_before_any_timer_pass() -> None:
    restored = PilotState("tehnopol", "p-1", "ee-smartlight", market="CN", opened=True,
                          last_activity_at=datetime(2020, 1, 1, tzinfo=UTC))  # fmt: skip
    other = PilotState("tehnopol", "p-2", "ee-smartlight", opened=True)
    table = RestoredTable({restored.key: dump_state(restored), other.key: dump_state(other)})
    pilots = PilotTable(table, partitions=4)  # type: ignore[arg-type]

    assert pilots.get(restored.key) == restored  # no reload() has run yet
    updated = PilotState("tehnopol", "p-1", "ee-smartlight", market="CN", opened=True,
                         last_activity_at=datetime(2020, 2, 1, tzinfo=UTC))  # fmt: skip
    pilots[updated.key] = updated
    assert set(pilots) == {restored.key, other.key}  # writing one pilot kept the others
    assert len(pilots) == 2
