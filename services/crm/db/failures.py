"""Telling a database failure that can never pass (bad data) from one that may pass on a retry.

The one place that classifies them: the projector parks unstorable events and retries the rest,
the query API answers a data error 400 and the rest 503, the gateway's event-id claims likewise.

* **Data** (`unstorable_reason` says why): an error with a SQLSTATE of class 22, 23 or 54 anywhere
  in its chain (asyncpg gives a value it cannot encode for a parameter, such as an int out of
  range, SQLSTATE 22000 too), or a value that cannot be encoded at all.
* **Connection lost** (`connection_lost`): the connection dropped or could not be made (SQLAlchemy
  marked it invalidated; SQLSTATE class 08 or a server shutdown 57P01-57P03; asyncpg's
  "connection is closed"; an OS-level error or timeout), as `error` or what it wraps says. It may
  pass, and it wins over a data error met before it (a data error, then the connection dropped
  in the rollback): that says nothing of the rows a retry would send, and a retry is safe.
* Everything else the database raises may pass later too (40 serialization or deadlock, 53
  resources, 58 system, XX internal, an error without a SQLSTATE) and is retried.
"""

import asyncpg
import orjson
from sqlalchemy.exc import SQLAlchemyError

# SQLSTATE classes of errors caused by the data itself: retrying the same rows fails the same way.
# 22 data exception (e.g. 22P05: a NUL in text), 23 integrity constraint violation, 54 program
# limit exceeded (a row or value too large).
PERMANENT_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
# The connection is gone: 08 connection exception; 57P01 admin shutdown, 57P02 crash shutdown,
# 57P03 cannot connect now (starting up or shutting down).
_LOST_SQLSTATE_CLASSES = frozenset({"08"})
_LOST_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
# What the database or the way to it raises (as opposed to a bug of ours): asyncpg's own errors
# when used without SQLAlchemy, SQLAlchemy's, and the OS's (refused, reset, timed out).
DATABASE_ERRORS = (
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


def is_database_failure(error: BaseException) -> bool:
    """Whether `error` was raised by the database or the connection to it."""
    return isinstance(error, DATABASE_ERRORS) or isinstance(getattr(error, "sqlstate", None), str)


def connection_lost(error: BaseException) -> bool:
    """Whether the connection to the database dropped or could not be made: `error` or what it
    wraps says so. (Not what was being handled when it was raised: an outage met and handled
    before says nothing of the error raised now.)"""
    for cause in _chain(error, handled=False):
        if getattr(cause, "connection_invalidated", False) is True or isinstance(cause, OSError):
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate[:2] in _LOST_SQLSTATE_CLASSES or sqlstate in _LOST_SQLSTATES):
            return True
        # asyncpg used on a connection that has dropped (SQLAlchemy's asyncpg dialect tells it so too)
        if isinstance(cause, asyncpg.InterfaceError) and "connection is closed" in str(cause):
            return True
    return False


def unstorable_reason(error: BaseException) -> str | None:
    """Why `error` means the rows can never be stored, or None if a retry may succeed."""
    if connection_lost(error):
        return None
    if isinstance(error, orjson.JSONEncodeError | UnicodeError):
        return f"cannot be encoded for the database: {error}"
    for cause in _chain(error):
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in PERMANENT_SQLSTATE_CLASSES:
            message = str(getattr(cause, "message", None) or cause).splitlines()[0]
            return f"the database refused it (SQLSTATE {sqlstate}): {message}"
    return None


def _chain(error: BaseException, *, handled: bool = True) -> list[BaseException]:
    """The error, what it wraps (SQLAlchemy's `orig`, `raise ... from`) and, if `handled`, what
    was being handled when each was raised (`__context__`), each once."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        wrapped = getattr(current, "orig", None)
        pending.extend(
            [
                wrapped if isinstance(wrapped, BaseException) else None,
                current.__cause__,
                current.__context__ if handled else None,
            ]
        )
    return seen
