"""SIGKILL the services under steady load, restart each: nothing acknowledged is lost or doubled."""

from pathlib import Path

from crm.alerts.rules import alert_id
from crm.local.processes import wait_until
from tests.support.faults import (
    FaultStack,
    SteadyLoad,
    alert_read_model,
    alerts_on_topic,
    deployment,
    record_figures,
    settle_and_verify,
)
from tests.support.histories import history
from tests.support.reference import reference_models


def test_projector_sigkilled_three_times_under_load(stack: FaultStack, tmp_path: Path) -> None:
    events = history(seed=91, smes=300)
    with deployment(stack, tmp_path) as (running, tokens):
        with SteadyLoad(running.gateway_url, tokens, events) as load:
            for share in (0.15, 0.4, 0.65):
                load.wait_for_acknowledged(int(len(events) * share))
                running.wait_until_projecting()
                running.kill_and_restart("projector")
            load.finish()
        figures = settle_and_verify(running, load)
    record_figures("projector SIGKILL x3", figures)


def test_gateway_sigkilled_twice_under_load(stack: FaultStack, tmp_path: Path) -> None:
    events = history(seed=92, smes=150)
    with deployment(stack, tmp_path) as (running, tokens):
        with SteadyLoad(running.gateway_url, tokens, events) as load:
            for share in (0.3, 0.6):
                load.wait_for_acknowledged(int(len(events) * share))
                running.kill_and_restart("gateway")
            load.finish()
        figures = settle_and_verify(running, load)
        assert figures["retried"] > 0, "the kills should have cut requests in flight or refused connections"
    record_figures("gateway SIGKILL x2", figures)


def test_alerts_sigkilled_twice_no_alert_lost_or_duplicated(stack: FaultStack, tmp_path: Path) -> None:
    events = history(seed=93, smes=200)
    with deployment(stack, tmp_path, alerts=True) as (running, tokens):
        with SteadyLoad(running.gateway_url, tokens, events) as load:
            for share in (0.3, 0.6):
                load.wait_for_acknowledged(int(len(events) * share))
                running.wait_until_alerting()
                running.kill_and_restart("alerts")
            load.finish()
        figures = settle_and_verify(running, load)
        # With the wall clock every pilot of these 2020 histories that is still open has stalled.
        open_pilots = {
            key: row
            for key, row in reference_models(list(load.acknowledged.values()))["pilots"].items()
            if row["status"] == "open"
        }
        expected = {
            alert_id(partner, pilot, row["last_activity_at"], "stalled")
            for (partner, _, pilot), row in open_pilots.items()
        }

        def every_stall_alerted() -> bool:
            return expected <= {a.event_id for a in alerts_on_topic(running.settings) if a.event_type == "PilotStalled"}

        wait_until(every_stall_alerted, 120, interval=1.0)
        seen = alerts_on_topic(running.settings)
        stalled = {a.event_id for a in seen if a.event_type == "PilotStalled"}
        assert expected - stalled == set(), f"{len(expected - stalled)} stalled pilots were never alerted"
        # Publish-then-store (crm/alerts/detector.py): a crash between the two re-emits the same
        # alert with the same event id. The topic is at-least-once; the read model must not be.
        distinct = {a.event_id for a in seen}
        wait_until(lambda: set(alert_read_model(running.settings)[0]) == distinct, 120, interval=0.5)
        applied, unresolved = alert_read_model(running.settings)
        assert len(applied) == len(set(applied)) and set(applied) == distinct, "alerts read model != topic"
        open_stalls = {(partner, pilot) for (partner, _, pilot) in open_pilots}
        assert sorted(unresolved) == sorted(open_stalls), "each stalled pilot has exactly one unresolved alert"
        assert not running.dead_services()
    reemitted = len(seen) - len(distinct)
    record_figures("alerts SIGKILL x2", {**figures, "alerts": len(distinct), "alerts_reemitted_same_id": reemitted})
