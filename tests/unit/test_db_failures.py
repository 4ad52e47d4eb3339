"""Classifying database failures (crm/db/failures.py), the one place the projector, the query API
and the gateway's event-id claims take it from: data PostgreSQL refuses can never pass (4xx, the
DLQ); a dropped or refused connection, and anything else, may pass (503, a retry). The error
objects are those asyncpg and SQLAlchemy raise (their shapes seen against the real server)."""

from typing import Any

import asyncpg
import orjson
import pytest
from fastapi import Request
from sqlalchemy import exc

from crm.contract.decoding import decode_event
from crm.db.failures import connection_lost, is_database_failure, unstorable_reason
from crm.gateway.claims import ClaimsUnavailable, PostgresEventClaims, UnclaimableEvents
from crm.query.app import database_failure_answer
from tests.support.events import envelope


def wrapped(orig: BaseException, *, invalidated: bool = False) -> exc.DBAPIError:
    """As SQLAlchemy's asyncpg dialect raises it: the DBAPI error, raised from asyncpg's."""
    error_type = exc.InterfaceError if isinstance(orig, asyncpg.InterfaceError) else exc.DBAPIError
    try:
        raise error_type("SELECT 1", None, orig, connection_invalidated=invalidated) from orig
    except exc.DBAPIError as error:
        return error


def request(path: str = "/v1/programme/kpis") -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []})


def raised_while_handling(handled: BaseException, error: BaseException) -> BaseException:
    """`error` as raised in an `except` block handling `handled` (its `__context__`)."""
    try:
        try:
            raise handled
        except BaseException:
            raise error  # noqa: B904 (the context is the point)
    except BaseException as raised:
        return raised


def malformed() -> BaseException:
    return asyncpg.exceptions.InvalidTextRepresentationError('invalid input syntax for type integer: "abc"')


def out_of_range() -> BaseException:
    # asyncpg refuses a parameter it cannot encode as SQLSTATE 22000, raised from an OverflowError
    try:
        raise asyncpg.exceptions.DataError("invalid input for query argument $1: 2**40 (value out of int32 range)")
    except asyncpg.exceptions.DataError as error:
        error.__cause__ = OverflowError("value out of int32 range")
        return error


def dropped() -> BaseException:
    return wrapped(asyncpg.InterfaceError("connection is closed"), invalidated=True)


DATA = {
    "a malformed value (22P02)": lambda: wrapped(malformed()),
    "a NUL in text (22021)": lambda: wrapped(asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence")),
    "a parameter asyncpg cannot encode (22000)": lambda: wrapped(out_of_range()),
    "the same, from asyncpg itself": out_of_range,
    "an integrity violation (23505)": lambda: wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")),
    "a value too large (54000)": lambda: wrapped(asyncpg.exceptions.ProgramLimitExceededError("row is too big")),
    "a data error, then the outage it met is handled": lambda: raised_while_handling(
        ConnectionResetError("reset"), wrapped(malformed())
    ),
    "a value that cannot be encoded": lambda: orjson.JSONEncodeError("surrogates not allowed"),
}
LOST = {
    "dropped (SQLAlchemy: invalidated, asyncpg: connection is closed)": dropped,
    "asyncpg on a closed connection": lambda: asyncpg.InterfaceError("connection is closed"),
    "dropped mid-query (08003)": lambda: asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-operation"),
    "the server shutting down (57P01)": lambda: wrapped(asyncpg.exceptions.AdminShutdownError("terminating")),
    "refused": lambda: ConnectionRefusedError(111, "Connection refused"),
    "timed out": lambda: TimeoutError(),
    "dropped in the rollback after a data error": lambda: raised_while_handling(wrapped(malformed()), dropped()),
}
TRANSIENT = {
    "a serialization failure (40001)": lambda: wrapped(asyncpg.exceptions.SerializationError("could not serialize")),
    "an error without a SQLSTATE": lambda: exc.OperationalError("SELECT 1", None, Exception("something")),
}


@pytest.mark.parametrize("make", DATA.values(), ids=DATA.keys())
def test_data_errors_can_never_pass(make: Any) -> None:
    error = make()
    assert unstorable_reason(error) is not None
    assert not connection_lost(error)
    answer = database_failure_answer(request(), error, retry_after=5)
    assert answer.status_code == 400 and "retry-after" not in answer.headers
    assert answer.media_type == "application/problem+json"
    assert orjson.loads(answer.body)["instance"] == "/v1/programme/kpis"


@pytest.mark.parametrize("make", LOST.values(), ids=LOST.keys())
def test_a_lost_connection_may_pass_whatever_it_interrupted(make: Any) -> None:
    error = make()
    assert connection_lost(error)
    assert unstorable_reason(error) is None
    assert is_database_failure(error)
    answer = database_failure_answer(request(), error, retry_after=5)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert orjson.loads(answer.body)["status"] == 503


@pytest.mark.parametrize("make", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_other_database_errors_may_pass(make: Any) -> None:
    error = make()
    assert unstorable_reason(error) is None and not connection_lost(error)
    assert database_failure_answer(request(), error, retry_after=5).status_code == 503


def test_only_the_database_and_the_way_to_it_are_database_failures() -> None:
    assert is_database_failure(malformed()) and is_database_failure(dropped())
    assert is_database_failure(asyncpg.InterfaceError("cannot perform operation: another operation is in progress"))
    assert not is_database_failure(KeyError("a bug of ours"))
    assert not is_database_failure(ValueError("nor this"))


class FailingEngine:
    """An engine whose statement raises `error` (the claims talk to asyncpg directly)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def connect(self) -> "FailingEngine":
        return self

    async def __aenter__(self) -> "FailingEngine":
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def get_raw_connection(self) -> "FailingEngine":
        return self

    @property
    def driver_connection(self) -> "FailingEngine":
        return self

    async def execute(self, *_: object) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (malformed(), UnclaimableEvents),
        (out_of_range(), UnclaimableEvents),
        (asyncpg.InterfaceError("connection is closed"), ClaimsUnavailable),  # was a 500
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-operation"), ClaimsUnavailable),
        (asyncpg.exceptions.SerializationError("could not serialize"), ClaimsUnavailable),
        (ConnectionRefusedError(111, "Connection refused"), ClaimsUnavailable),
        (dropped(), ClaimsUnavailable),
    ],
    ids=["malformed", "out of range", "closed", "dropped mid-query", "serialization", "refused", "invalidated"],
)
async def test_the_gateway_claims_say_retry_later_only_when_a_retry_may_pass(
    error: BaseException, expected: type[Exception]
) -> None:
    claims = PostgresEventClaims(FailingEngine(error))  # type: ignore[arg-type]
    with pytest.raises(expected):
        await claims.claim([decode_event(orjson.dumps(envelope("SMEWithdrawn", {})))])


async def test_a_bug_in_the_claims_is_not_called_a_database_failure() -> None:
    claims = PostgresEventClaims(FailingEngine(KeyError("a bug of ours")))  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        await claims.claim([decode_event(orjson.dumps(envelope("SMEWithdrawn", {})))])
