"""Kafka and PostgreSQL go away under steady load and come back; two projectors lose one mid-rebalance."""

import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.support.faults import (
    FaultStack,
    SteadyLoad,
    deployment,
    record_figures,
    settle_and_verify,
    verify_alerts_at,
    wait_for,
)
from tests.support.histories import history

JOINING = "batch_consumer.joining"


def test_kafka_restarted_under_load(stack: FaultStack, tmp_path: Path) -> None:
    events = history(seed=94, smes=150)
    with deployment(stack, tmp_path) as (running, tokens):
        with SteadyLoad(running.gateway_url, tokens, events) as load:
            load.wait_for_acknowledged(len(events) // 3)
            stack.restart_kafka()
            load.finish()
        figures = settle_and_verify(running, load)
    record_figures("Kafka restart", figures)


def test_postgres_restarted_under_load(stack: FaultStack, tmp_path: Path) -> None:
    events = history(seed=95, smes=150)
    with deployment(stack, tmp_path) as (running, tokens):
        with SteadyLoad(running.gateway_url, tokens, events) as load:
            load.wait_for_acknowledged(len(events) // 3)
            stack.restart_postgres()
            load.finish()
        figures = settle_and_verify(running, load)
    record_figures("PostgreSQL restart", figures)


def test_postgres_refusing_connections_for_10_seconds(stack: FaultStack, tmp_path: Path) -> None:
    events = history(seed=96, smes=150)
    # No token cache: the gateway must look every token up in the database that is away.
    with deployment(stack, tmp_path, CRM_TOKEN_CACHE_SECONDS="0") as (running, tokens):
        with SteadyLoad(running.gateway_url, tokens, events) as load:
            load.wait_for_acknowledged(len(events) // 3)
            stack.restart_postgres(down_for=10.0)  # port closed: every connection attempt is refused
            load.finish()
        figures = settle_and_verify(running, load)
    record_figures("PostgreSQL down 10 s (port closed)", figures)


class QueryProbe:
    """Reads the query API in a loop (a token lookup and a read-model query each time), recording statuses."""

    def __init__(self, url: str, token: str) -> None:
        self.statuses: dict[int, int] = {}
        self._url, self._token = url, token
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="query-probe", daemon=True)

    def __enter__(self) -> "QueryProbe":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        with httpx.Client(base_url=self._url, headers=headers, timeout=10) as client:
            while not self._stop.wait(0.2):
                for path in ("/v1/me", "/v1/partners/tehnopol/pilots?status=open"):
                    try:
                        status = client.get(path).status_code
                    except httpx.TransportError:
                        status = 0
                    self.statuses[status] = self.statuses.get(status, 0) + 1


CLOCK_AT = datetime(2020, 10, 15, 12, 34, 56, tzinfo=UTC)  # mid-history: some open pilots stalled, some not


def test_postgres_refusing_connections_by_pg_hba_for_10_seconds(stack: FaultStack, tmp_path: Path) -> None:
    """The server stays up but refuses every connection (pg_hba reject + reload, open sessions cut):
    every service gets past it alone; the query API says 503, never 500; no alert lost or doubled."""
    events = history(seed=99, smes=150)
    clock = tmp_path / "alerts-clock"
    with deployment(
        stack, tmp_path, alerts=True, query=True, CRM_TOKEN_CACHE_SECONDS="0",
        CRM_ALERTS_CLOCK="file", CRM_ALERTS_CLOCK_FILE=str(clock),
    ) as (running, tokens):  # fmt: skip
        query_url = f"http://127.0.0.1:{running.settings.query_port}"
        with (
            SteadyLoad(running.gateway_url, tokens, events) as load,
            QueryProbe(query_url, tokens["tehnopol"]) as probe,
        ):
            load.wait_for_acknowledged(len(events) // 3)
            running.wait_until_projecting()
            stack.refuse_connections(for_seconds=10.0)
            load.finish()
            wait_for(lambda: probe.statuses.get(200, 0) > 0, 60, "the query API answering again")
        figures = settle_and_verify(running, load)
        assert figures["retried"] > 0, "the gateway should have answered 503 while tokens could not be checked"
        assert set(probe.statuses) <= {200, 503}, probe.statuses
        assert probe.statuses.get(503, 0) > 0, "the probe should have seen the outage"
        alert_figures = verify_alerts_at(running, load, clock, CLOCK_AT)
        assert not running.dead_services()
    record_figures(
        "PostgreSQL refusing connections (pg_hba) 10 s",
        {**figures, **alert_figures, "query_probe": {str(k): v for k, v in sorted(probe.statuses.items())}},
    )


def test_two_projectors_one_sigkilled_during_a_rebalance(stack: FaultStack, tmp_path: Path) -> None:
    events = history(seed=97, smes=250)
    with deployment(stack, tmp_path) as (running, tokens):
        with SteadyLoad(running.gateway_url, tokens, events) as load:
            load.wait_for_acknowledged(len(events) // 4)
            running.wait_until_projecting()
            second = running.add("projector-2", ["projector", "run"])  # joining: the group rebalances
            # The joiner logs "batch_consumer.joining" as it starts its JoinGroup; it is assigned
            # partitions only once the first worker has finished its batch, revoked and rejoined.
            wait_for(lambda: JOINING in second.log_path.read_text(errors="replace"), 90, "the join")
            running.services["projector"].kill()  # SIGKILL the first worker mid-rebalance
            load.wait_for_acknowledged(len(events) // 2)
            running.wait_until_projecting()  # the survivor took everything over
            running.services["projector"].start()  # back: a third rebalance, two workers again
            load.finish()
        figures = settle_and_verify(running, load)
    record_figures("two projectors, one SIGKILLed mid-rebalance", figures)
