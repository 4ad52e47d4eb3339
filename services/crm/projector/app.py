"""The projector's Faust application (only the App; agents live in agents.py)."""

import faust

from crm.settings import Settings

# Faust's producer refuses requests over 1 MiB by default, but a message on the events topic may
# be as large as the broker allows (the embedded one: 2 MiB): parking such a message on the DLQ
# must not be refused on our side. The broker's own limit still applies (see dead_letters.py).
PRODUCER_MAX_REQUEST_BYTES = 4 * 1024 * 1024


def create_app(settings: Settings, bootstrap: str) -> faust.App:
    return faust.App(
        settings.projector_group,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=str(settings.state_dir / "faust" / settings.projector_group),
        web_enabled=False,
        autodiscover=False,
        topic_allow_declare=False,  # topics are created with their retention by ensure_topics
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.projector_session_timeout,
        broker_heartbeat_interval=min(3.0, settings.projector_session_timeout / 3),
        producer_acks=-1,
        producer_max_request_size=PRODUCER_MAX_REQUEST_BYTES,
        stream_wait_empty=False,
    )
