"""How a `crm` command fails: one line on stderr and a documented exit code, in one place.

`CrmGroup` (the root command's class) catches what any command raises and `explain` turns it
into a `Failure`: an unreachable Kafka or PostgreSQL, a refused login, a missing file, invalid
settings, bad input. `crm --verbose ...` prints the traceback as well.
"""

import errno
import socket
import ssl
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import typer
from typer.core import TyperGroup

from crm.errors import InfrastructureError


class ExitCode(IntEnum):
    """What `crm` exits with (docs/cli.md)."""

    DONE = 0
    FAILED = 1  # the command ran and failed: refused, not found, invalid data
    USAGE = 2  # the command line is wrong: an unknown option, a bad value, invalid settings
    UNREACHABLE = 3  # Kafka or PostgreSQL is not running, not reachable or refused the login


EXIT_CODES = {
    ExitCode.DONE: "done",
    ExitCode.FAILED: "failed: the command ran and was refused, found nothing, met invalid data (a file's bad rows) "
    "or could not read or write a file",
    ExitCode.USAGE: "usage: an unknown command or option, a missing argument, a value out of its choices or range, "
    "a FILE argument that does not exist, invalid `CRM_*` settings",
    ExitCode.UNREACHABLE: "infrastructure: Kafka or PostgreSQL is not running, not reachable, or refused the login "
    "(also: no stack is running and no `CRM_*` setting names one)",
}

RESTART_HINT = "is it running? `make up` starts the local stack"


@dataclass(frozen=True)
class Failure:
    code: ExitCode
    message: str


def explain(error: BaseException) -> Failure:
    """The exit code and one-line message for an exception a command raised: the first kind (in
    the order of `_KINDS`) that the error or anything it wraps is."""
    chain = list(_chain(error))
    for kind in _KINDS:
        for cause in chain:
            found = kind(cause)
            if found is not None:
                return found
    return Failure(ExitCode.FAILED, f"{type(error).__name__}: {_first_line(error)} (`crm --verbose ...` shows where)")


def _stack_missing(cause: BaseException) -> Failure | None:
    """Ours: no stack runs, a server could not start (the message says what to do)."""
    return Failure(ExitCode.UNREACHABLE, _first_line(cause)) if isinstance(cause, InfrastructureError) else None


def _missing_file(cause: BaseException) -> Failure | None:
    if isinstance(cause, OSError) and cause.filename is not None and not isinstance(cause, ConnectionError):
        return Failure(ExitCode.FAILED, f"{cause.strerror or cause}: {cause.filename}")
    return None


def _infrastructure(cause: BaseException) -> Failure | None:
    """Kafka or PostgreSQL away, or PostgreSQL refusing the login or the database."""
    import asyncpg
    from aiokafka import errors as kafka_errors

    if isinstance(cause, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError):
        return Failure(ExitCode.UNREACHABLE, f"PostgreSQL refused the login: {_first_line(cause)}")
    if isinstance(cause, asyncpg.InvalidCatalogNameError):
        return Failure(ExitCode.UNREACHABLE, f"PostgreSQL: {_first_line(cause)}")
    if isinstance(cause, asyncpg.CannotConnectNowError | asyncpg.ConnectionFailureError):
        return Failure(
            ExitCode.UNREACHABLE, f"PostgreSQL is not accepting connections ({_first_line(cause)}); {RESTART_HINT}"
        )
    if isinstance(cause, ssl.SSLCertVerificationError):
        return Failure(
            ExitCode.UNREACHABLE,
            f"{_server_of(cause)} refused: its TLS certificate is not trusted ({cause.verify_message}); check the "
            "root certificate (sslrootcert in CRM_DATABASE_URL) and the host name",
        )
    unreachable_kafka = (
        kafka_errors.KafkaConnectionError,
        kafka_errors.KafkaTimeoutError,
        kafka_errors.NodeNotReadyError,
        kafka_errors.RequestTimedOutError,
        kafka_errors.NoBrokersAvailable,
    )
    if isinstance(cause, unreachable_kafka):
        return Failure(ExitCode.UNREACHABLE, f"Kafka is unreachable ({_first_line(cause)}); {RESTART_HINT}")
    if _socket_failure(cause):
        server = _server_of(cause)
        return Failure(ExitCode.UNREACHABLE, f"cannot connect to {server} ({_first_line(cause)}); {RESTART_HINT}")
    if isinstance(cause, kafka_errors.KafkaError):
        return Failure(ExitCode.FAILED, f"Kafka: {_first_line(cause)}")
    return None


_CONNECT_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}


def _socket_failure(cause: BaseException) -> bool:
    if isinstance(cause, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(cause, OSError) and cause.filename is None:
        # asyncio's create_connection to several addresses: "Multiple exceptions: [Errno 111] ..."
        return cause.errno in _CONNECT_ERRNOS or str(cause).startswith("Multiple exceptions")
    return False


def _server_of(cause: BaseException) -> str:
    """Which server a socket error came from, by the libraries in its traceback."""
    modules = {
        frame.f_globals.get("__name__", "").partition(".")[0] for frame, _ in traceback.walk_tb(cause.__traceback__)
    }
    if modules & {"aiokafka", "kafka"}:
        return "Kafka"
    if modules & {"asyncpg", "sqlalchemy", "psycopg"}:
        return "PostgreSQL"
    return "the server"


def _invalid_settings(cause: BaseException) -> Failure | None:
    from pydantic import ValidationError

    if not isinstance(cause, ValidationError):
        return None
    if cause.title == "Settings":
        problems = "; ".join(f"CRM_{_location(p['loc']).upper()}: {p['msg']}" for p in cause.errors())
        return Failure(ExitCode.USAGE, f"invalid setting {problems}")
    problems = "; ".join(f"{_location(p['loc'])}: {p['msg']}" for p in cause.errors())
    return Failure(ExitCode.FAILED, f"invalid input: {problems}")


def _location(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location)


def _database_refusal(cause: BaseException) -> Failure | None:
    """PostgreSQL answered, with an error (a missing table: the schema is not migrated)."""
    import asyncpg

    if isinstance(cause, asyncpg.UndefinedTableError):
        return Failure(ExitCode.FAILED, f"PostgreSQL: {_first_line(cause)} (is the schema migrated? `crm db upgrade`)")
    if isinstance(cause, asyncpg.PostgresError):
        return Failure(ExitCode.FAILED, f"PostgreSQL: {_first_line(cause)}")
    return None


_KINDS = (_stack_missing, _infrastructure, _missing_file, _invalid_settings, _database_refusal)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps (SQLAlchemy's `orig`, `raise ... from`, the error being handled
    when it was raised), each once; an exception group's members too."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        yield current
        wrapped = getattr(current, "orig", None)
        nested: list[Any] = [wrapped, current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            nested.extend(current.exceptions)
        pending.extend(n for n in nested if isinstance(n, BaseException))


class CrmGroup(TyperGroup):
    """The root `crm` command: whatever a sub-command raises ends as one line and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):  # usage errors (2), exits, Ctrl-C
            raise
        except Exception as error:
            failure = explain(error)
            if ctx.params.get("verbose"):
                traceback.print_exception(error, file=sys.stderr)
            typer.secho(f"error: {failure.message}", err=True, fg=typer.colors.RED)
            raise typer.Exit(failure.code) from None


def fail(message: str, code: ExitCode = ExitCode.FAILED) -> typer.Exit:
    """Print `error: message` on stderr and return the exit to raise: `raise fail("no such token")`."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)
