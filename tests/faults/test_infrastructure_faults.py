"""Kafka and PostgreSQL go away under steady load and come back; two projectors lose one mid-rebalance."""

from pathlib import Path

from tests.support.faults import FaultStack, SteadyLoad, deployment, record_figures, settle_and_verify, wait_for
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
    record_figures("PostgreSQL refusing connections 10 s", figures)


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
