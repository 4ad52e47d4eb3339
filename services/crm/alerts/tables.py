"""The pilot table: one PilotState per `partner_id/pilot_id`, backed by a compacted changelog."""

from typing import Any

import faust
from faust.serializers import codecs
from faust.types import TableT

from crm.alerts.rules import PilotState
from crm.alerts.state_codec import dump_state, load_state

PILOTS_TABLE = "pilots"


class PilotStateCodec(codecs.Codec):  # type: ignore[misc]
    def _dumps(self, obj: Any) -> bytes:
        return dump_state(obj)

    def _loads(self, s: bytes) -> Any:
        return load_state(s)


def create_pilots_table(app: faust.App, partitions: int) -> "TableT[str, PilotState]":
    """Keyed by pilot, not by the SME key of `crm.events`: the timer writes it too, outside any
    stream, so the producer's partitioner places changelog records (`use_partitioner`). That
    assumes one worker holds every partition, which is how the alerts service is deployed."""
    codecs.register("crm_pilot_state", PilotStateCodec())
    return app.Table(
        PILOTS_TABLE,
        partitions=partitions,
        use_partitioner=True,
        key_serializer="json",
        value_serializer="crm_pilot_state",
    )


def changelog_topic_name(app: faust.App) -> str:
    return f"{app.conf.id}-{PILOTS_TABLE}-changelog"
