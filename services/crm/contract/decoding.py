"""Turn raw JSON bytes into contract events, or into located problems.

Both the gateway (a request body: one envelope or an array) and every Kafka consumer (one
message) decode through here, so a message is judged the same way everywhere. A domain event of
any supported `schema_version` is validated by the models of its version and upcast to the
current one (`crm.contract.upcasting`) with the deployment's `UpcastContext`: the code past this
module only ever sees current events. `encode_event` writes an event in the version it was
written in, so what is published, hashed and re-sent stays what the sender sent.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from crm.contract import v1
from crm.contract.events import SCHEMA_VERSION, AlertEvent, DomainEvent, Envelope
from crm.contract.upcasting import UpcastContext, downcast, upcast

_EVENT_TAGS = {model.__name__ for model in DomainEvent.__args__}  # type: ignore[attr-defined]
_ALERT_TAGS = {model.__name__ for model in AlertEvent.__args__}  # type: ignore[attr-defined]

_one_event: TypeAdapter[DomainEvent] = TypeAdapter(Annotated[DomainEvent, Field(discriminator="event_type")])
_one_alert: TypeAdapter[AlertEvent] = TypeAdapter(Annotated[AlertEvent, Field(discriminator="event_type")])

_EVENTS_BY_VERSION: dict[int, Any] = {
    v1.VERSION: Annotated[v1.DomainEventV1, Field(discriminator="event_type")],
    SCHEMA_VERSION: Annotated[DomainEvent, Field(discriminator="event_type")],
}
"""One domain event of each supported `schema_version` (a discriminated union of its types)."""
OLDER_VERSIONS: dict[int, TypeAdapter[Any]] = {
    version: TypeAdapter(event) for version, event in _EVENTS_BY_VERSION.items() if version != SCHEMA_VERSION
}
"""One domain event of each released version before the current one, by `schema_version`."""
SUPPORTED_VERSIONS = tuple(sorted(_EVENTS_BY_VERSION))
DEFAULT_CONTEXT = UpcastContext()


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an event was refused: where (index in the request, dotted field) and why."""

    index: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


class InvalidEvents(ValueError):
    """Raised when input is not valid JSON or breaks the contract; carries every problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"[{p.index}] {p.field}: {p.message}" for p in self.problems))

    @property
    def reason(self) -> str:
        return str(self)


class TooManyEvents(InvalidEvents):
    """A request array longer than allowed; found before any event is validated."""

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__([Problem(0, "$", f"{count} events in one request; at most {limit} are allowed")])


@lru_cache(maxsize=16)
def _event_list(version: int, max_events: int | None) -> TypeAdapter[list[Any]]:
    """A JSON array of events of one version, at most `max_events` (pydantic checks max_length
    before validating the items, so a huge array is refused cheaply)."""
    events: Any = list[_EVENTS_BY_VERSION[version]]  # type: ignore[misc, valid-type]
    return TypeAdapter(events if max_events is None else Annotated[events, Field(max_length=max_events)])


def decode_event(raw: bytes | str, context: UpcastContext = DEFAULT_CONTEXT) -> DomainEvent:
    """Decode one envelope of a domain event (a Kafka message value), in the current version."""
    version = _judged_as(_parsed(raw))
    adapter = _one_event if version == SCHEMA_VERSION else OLDER_VERSIONS.get(version)
    if adapter is None:
        raise InvalidEvents([_unsupported(0, version)])
    try:
        event = adapter.validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvents(_problems(exc, batch=False)) from None
    return event if adapter is _one_event else upcast(event, context)


def decode_alert(raw: bytes | str) -> AlertEvent:
    """Decode one alert envelope (a `crm.alerts` message value)."""
    try:
        return _one_alert.validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvents(_problems(exc, batch=False, tags=_ALERT_TAGS)) from None


def decode_events(
    raw: bytes | str, *, max_events: int | None = None, context: UpcastContext = DEFAULT_CONTEXT
) -> list[DomainEvent]:
    """Decode a request body: one envelope or a JSON array of them (at most `max_events`).

    An array of one version (the usual case) is validated in one pass by that version's models;
    one mixing versions, item by item."""
    stripped = raw.lstrip()[:1]
    if stripped in (b"[", "["):
        document = _parsed(raw)
        versions = {_judged_as(item) for item in document} if isinstance(document, list) else set()
        version = versions.pop() if len(versions) == 1 else SCHEMA_VERSION
        if versions or version not in _EVENTS_BY_VERSION:
            return _decode_each(document, max_events, context)
        try:
            events = _event_list(version, max_events).validate_json(raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            if first["type"] == "too_long" and first["loc"] == () and max_events is not None:
                raise TooManyEvents(int(first["ctx"]["actual_length"]), max_events) from None
            raise InvalidEvents(_problems(exc, batch=True)) from None
        return events if version == SCHEMA_VERSION else [upcast(event, context) for event in events]
    return [decode_event(raw, context)]


def _decode_each(document: list[Any], max_events: int | None, context: UpcastContext) -> list[DomainEvent]:
    """An array holding events of several versions: each item decoded by its own version."""
    if max_events is not None and len(document) > max_events:
        raise TooManyEvents(len(document), max_events)
    events, problems = [], []
    for index, item in enumerate(document):
        try:
            events.append(decode_event(orjson.dumps(item), context))
        except InvalidEvents as invalid:
            problems += [Problem(index, problem.field, problem.message) for problem in invalid.problems]
    if problems:
        raise InvalidEvents(problems)
    return events


def _parsed(raw: bytes | str) -> Any:
    """The JSON document, or None when it is not JSON (validation then says why, as always)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _judged_as(document: Any) -> int:
    """The version whose models judge `document`: its `schema_version`; without a usable one
    (it is refused either way), the first version's, so the problems are those version 1 gave."""
    version = document.get("schema_version") if isinstance(document, dict) else None
    return version if type(version) is int else min(SUPPORTED_VERSIONS)


def _unsupported(index: int, version: int) -> Problem:
    supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
    return Problem(index, "schema_version", f"unsupported schema_version {version}; supported: {supported}")


def _problems(exc: ValidationError, *, batch: bool, tags: set[str] = _EVENT_TAGS) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = list(error["loc"])
        index = loc.pop(0) if batch and loc and isinstance(loc[0], int) else 0
        if loc and loc[0] in tags:  # the discriminated union puts the tag first
            loc.pop(0)
        problems.append(Problem(int(index), _field(error["type"], loc), _message(error)))
    return problems


def _field(error_type: str, loc: list[Any]) -> str:
    if error_type in ("union_tag_invalid", "union_tag_not_found"):
        return "event_type"
    return ".".join(str(part) for part in loc) or "$"


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "union_tag_invalid":
        return f"unknown event_type {error['ctx']['tag']!r}; expected one of {', '.join(sorted(_EVENT_TAGS))}"
    if kind == "union_tag_not_found":
        return "event_type is required"
    if kind == "extra_forbidden":
        return "unexpected field"
    if kind == "missing":
        return "field required"
    if kind == "timezone_aware":
        return "timestamp must carry a time zone (RFC 3339, e.g. 2020-10-05T09:00:00Z)"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def encode_event(event: DomainEvent | AlertEvent) -> bytes:
    """The canonical wire form, in the version the event was written in: compact JSON, UTC
    timestamps, absent optionals left out. A domain event is encoded once and keeps its bytes
    (the gateway hashes and publishes it; the model is frozen)."""
    if not isinstance(event, Envelope):
        return event.model_dump_json(exclude_none=True).encode()
    private: dict[str, Any] = event.__pydantic_private__  # type: ignore[assignment]
    encoded: bytes | None = private["_encoded"]
    if encoded is None:
        written: BaseModel = event if private["_written_in"] == SCHEMA_VERSION else downcast(event)
        encoded = private["_encoded"] = written.model_dump_json(exclude_none=True).encode()
    return encoded
