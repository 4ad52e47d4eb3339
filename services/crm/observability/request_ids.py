"""Request ids: one per gateway request, carried from the HTTP answer to the projector's log line.

The gateway accepts the client's `X-Request-ID` when it is sane (1 to 64 of `A-Z a-z 0-9 . _ : -`),
else makes one; the id is bound in the request's log lines (structlog contextvars), returned in
the answer, and written as the `request_id` header of every Kafka record the request publishes.
A context variable carries it from the middleware to the publisher, so nothing in between
(validation, claims, the sink) has to pass it along.
"""

import os
import re
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar

import structlog

HEADER = "X-Request-ID"
RECORD_HEADER = "request_id"
LOGGED_PER_BATCH = 20
"""Most distinct request ids a projector batch line names (a full batch may hold thousands)."""

_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_current: ContextVar[str | None] = ContextVar("crm_request_id", default=None)
_bound: ContextVar[set[str] | None] = ContextVar("crm_request_log_keys", default=None)


def accepted_or_new(sent: str | None) -> str:
    """The client's id if it is sane, else a new one (32 random hex digits)."""
    if sent is not None and _SANE.fullmatch(sent):
        return sent
    return os.urandom(16).hex()


def current_request_id() -> str | None:
    return _current.get()


class _Handling:
    __slots__ = ("_bound", "_current", "_tokens")

    def __init__(self, request_id: str) -> None:
        self._current = _current.set(request_id)
        self._bound = _bound.set(set())
        self._tokens = structlog.contextvars.bind_contextvars(request_id=request_id)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        bound = _bound.get()
        if bound:
            structlog.contextvars.unbind_contextvars(*bound)
        structlog.contextvars.reset_contextvars(**self._tokens)
        _bound.reset(self._bound)
        _current.reset(self._current)


def handling_request(request_id: str) -> AbstractContextManager[None]:
    """While a request is handled: `request_id` current and bound in every log line; what
    `bind_to_request` binds meanwhile is unbound at the end. (A class, not a generator: it runs
    on every gateway request.)"""
    return _Handling(request_id)


def bind_to_request(**values: object) -> None:
    """Bind `values` in the log lines of the rest of the current request (`partner_id` once known)."""
    keys = _bound.get()
    if keys is not None:
        keys.update(values)
    structlog.contextvars.bind_contextvars(**values)


def record_headers() -> list[tuple[str, bytes]]:
    """The Kafka headers of a record published now: the current request's id, if any."""
    request_id = _current.get()
    return [] if request_id is None else [(RECORD_HEADER, request_id.encode())]


def request_id_of(headers: Iterable[tuple[str, bytes]]) -> str | None:
    for name, value in headers:
        if name == RECORD_HEADER:
            return value.decode(errors="replace")
    return None


def batch_request_ids(headers: Sequence[Iterable[tuple[str, bytes]]]) -> tuple[list[str], int]:
    """The distinct request ids of a batch's records, in order of arrival, at most `LOGGED_PER_BATCH`;
    and how many more there were."""
    seen: dict[str, None] = {}
    for record in headers:
        request_id = request_id_of(record)
        if request_id is not None:
            seen.setdefault(request_id)
    ids = list(seen)
    return ids[:LOGGED_PER_BATCH], max(0, len(ids) - LOGGED_PER_BATCH)
