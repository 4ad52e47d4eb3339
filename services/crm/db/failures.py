"""Telling a database failure that can never pass (bad data) from one that may pass on a retry."""

import orjson

# SQLSTATE classes of errors caused by the data itself: retrying the same rows fails the same way.
# 22 data exception (e.g. 22P05: a NUL in text), 23 integrity constraint violation, 54 program
# limit exceeded (a row or value too large). Everything else (08 connection, 40 serialization or
# deadlock, 53 resources, 57 operator intervention, 58 system, XX internal, and any error without
# a SQLSTATE) may pass later and is retried.
PERMANENT_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})


def unstorable_reason(error: BaseException) -> str | None:
    """Why `error` means the rows can never be stored, or None if a retry may succeed."""
    if isinstance(error, orjson.JSONEncodeError | UnicodeError):
        return f"cannot be encoded for the database: {error}"
    for cause in _chain(error):
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in PERMANENT_SQLSTATE_CLASSES:
            message = str(getattr(cause, "message", None) or cause).splitlines()[0]
            return f"the database refused it (SQLSTATE {sqlstate}): {message}"
    return None


def _chain(error: BaseException) -> list[BaseException]:
    """The error, what it wraps (SQLAlchemy's `orig`) and its causes, each once."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        wrapped = getattr(current, "orig", None)
        pending.extend(
            [wrapped if isinstance(wrapped, BaseException) else None, current.__cause__, current.__context__]
        )
    return seen
