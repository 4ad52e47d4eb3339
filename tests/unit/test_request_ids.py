"""Request ids: which client ids are kept, what a Kafka record carries, what a batch line names."""

import structlog

from crm.observability.request_ids import (
    LOGGED_PER_BATCH,
    RECORD_HEADER,
    accepted_or_new,
    batch_request_ids,
    bind_to_request,
    current_request_id,
    handling_request,
    record_headers,
)


def test_a_sane_client_id_is_kept_and_anything_else_replaced() -> None:
    assert accepted_or_new("req-42.a:b_C") == "req-42.a:b_C"
    assert accepted_or_new("0f" * 32) == "0f" * 32
    for insane in (None, "", "x" * 65, "has space", "new\nline", "é", "a,b"):
        made = accepted_or_new(insane)
        assert made != insane and len(made) == 32 and int(made, 16) >= 0


def test_the_id_is_current_logged_and_in_record_headers_only_while_handling() -> None:
    assert (current_request_id(), record_headers()) == (None, [])
    with handling_request("r-1"):
        bind_to_request(partner_id="tehnopol")
        assert current_request_id() == "r-1"
        assert record_headers() == [(RECORD_HEADER, b"r-1")]
        assert structlog.contextvars.get_contextvars() == {"request_id": "r-1", "partner_id": "tehnopol"}
    assert (current_request_id(), record_headers()) == (None, [])
    assert structlog.contextvars.get_contextvars() == {}


def test_a_batch_names_its_distinct_ids_in_arrival_order_capped() -> None:
    headers = [[(RECORD_HEADER, b"b")], [], [("other", b"x"), (RECORD_HEADER, b"a")], [(RECORD_HEADER, b"b")]]
    assert batch_request_ids(headers) == (["b", "a"], 0)
    many = [[(RECORD_HEADER, f"r{i}".encode())] for i in range(LOGGED_PER_BATCH + 5)]
    ids, more = batch_request_ids(many)
    assert ids == [f"r{i}" for i in range(LOGGED_PER_BATCH)] and more == 5
