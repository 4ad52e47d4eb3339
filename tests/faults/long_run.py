"""The long combined-fault run (`make test-faults-long`, CRM_FAULTS_MINUTES, default 20): not part of
`make test-faults` (the file name is outside pytest's `test_*.py`; it runs only when named).

For the given minutes, a steady load goes through the gateway while a schedule of faults repeats
round after round: SIGKILL the projector, the alerts service and the gateway, restart Kafka,
restart PostgreSQL, make PostgreSQL refuse connections (pg_hba) for 10 s, write poison pills
(NUL events, acknowledged ids reused with other content) straight onto the events topic. Then the
load stops and the system settles: every acknowledged event is in the read models exactly once and
equal to the reference fold, every pill is parked on the DLQ with its reason, the alerts read model
applied every distinct alert once, and every service is still running without a human having
restarted anything but the crashes themselves.
"""

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from crm.settings import Settings
from tests.faults import test_hostile_input as hostile
from tests.support.faults import (
    FaultStack,
    SteadyLoad,
    alert_read_model,
    alerts_on_topic,
    deployment,
    record_figures,
    settle_and_verify,
    wait_for,
)
from tests.support.histories import history

EVENTS_PER_MINUTE = 4_500  # the load sends about 75 events/s (15 requests of 5)
STEP_EVENTS = 400  # acknowledged events between two faults: each fault lands under load


def _minutes() -> float:
    return float(os.environ.get("CRM_FAULTS_MINUTES", "20"))


# The run lasts the minutes it is given: pyproject's 300 s per-test timeout would end it early.
@pytest.mark.timeout(int(_minutes() * 60) + 1800)
def test_combined_faults_for_minutes(stack: FaultStack, tmp_path: Path) -> None:
    minutes = _minutes()
    events = history(seed=101, smes=int(minutes * EVENTS_PER_MINUTE / 5.9) + 50)
    with deployment(stack, tmp_path, alerts=True, CRM_TOKEN_CACHE_SECONDS="0") as (running, tokens):
        faults: list[tuple[str, Callable[[], None]]] = [
            ("projector SIGKILL", lambda: running.kill_and_restart("projector")),
            ("alerts SIGKILL", lambda: running.kill_and_restart("alerts")),
            ("gateway SIGKILL", lambda: running.kill_and_restart("gateway")),
            ("Kafka restart", stack.restart_kafka),
            ("PostgreSQL restart", stack.restart_postgres),
            ("PostgreSQL refusing connections 10 s", lambda: stack.refuse_connections(for_seconds=10.0)),
            ("poison pills", lambda: pills.extend(put_pills(load, running.settings, round_=1 + len(pills) // 10))),
        ]
        pills: list[tuple[str, bytes, bytes]] = []
        injected: dict[str, int] = {name: 0 for name, _ in faults}
        deadline = time.monotonic() + minutes * 60
        with SteadyLoad(running.gateway_url, tokens, events, give_up_after=300) as load:
            step = 0
            while time.monotonic() < deadline and len(load.acknowledged) + STEP_EVENTS < len(events):
                load.wait_for_acknowledged(len(load.acknowledged) + STEP_EVENTS, timeout=300)
                name, inject = faults[step % len(faults)]
                inject()
                injected[name] += 1
                step += 1
            load.finish(timeout=max(600, minutes * 60))
        figures = settle_and_verify(running, load, settle_timeout=600)
        parked = asyncio.run(hostile._dead_letters(running.settings, len(pills)))
        assert len(parked) == len(pills), f"{len(pills)} poison pills written, {len(parked)} parked"
        assert sum(injected.values()) >= len(faults), f"not one whole round of faults: {injected}"
        distinct = {a.event_id for a in alerts_on_topic(running.settings)}
        wait_for(lambda: set(alert_read_model(running.settings)[0]) == distinct, 180, "alerts read model = topic")
        applied, _ = alert_read_model(running.settings)
        assert len(applied) == len(set(applied)), "an alert was applied twice"
        assert not running.dead_services(), running.dead_services()
    record_figures(
        f"combined faults, {minutes:g} min",
        {**figures, "faults": injected, "alerts_distinct": len(distinct), "pills_parked": len(parked)},
    )


def put_pills(load: SteadyLoad, settings: Settings, round_: int) -> list[tuple[str, bytes, bytes]]:
    """Ten pills (five NUL events, five reused ids) on the events topic; returns them."""
    pills = hostile.poison_pills(list(load.acknowledged.values()), 5, round_=round_)
    asyncio.run(hostile._put_pills(settings, pills))
    return pills
