"""From every released version of a domain event to the current one: a chain of pure functions.

`upcast(event, context)` takes a validated event of any supported version and returns it in the
current version, one step at a time (`STEPS[n]` turns version n into n + 1). Each step is a pure
function of the event's fields and the deployment's `UpcastContext`, nothing else: the same
message always upcasts to the same event, in the live projector, a rebuild, the alerts service, a
DLQ replay or an import. The bytes on Kafka are never rewritten.

Adding a version: freeze the old models in `crm.contract.v<n>`, bump `SCHEMA_VERSION`, add the
step from the previous version here (what the new fields are for an old event), register the
old models in `crm.contract.decoding.VERSIONS`, and test the step on the committed samples.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from crm.contract import v1
from crm.contract.events import DOMAIN_EVENT_TYPES, SCHEMA_VERSION, DomainEvent

IMPLICIT_PROGRAMME = "default"
"""The programme of every event in a deployment that names none (`CRM_DEFAULT_PROGRAMME`)."""


@dataclass(frozen=True, slots=True)
class UpcastContext:
    """What an upcaster may know besides the event: the deployment's default programme."""

    default_programme: str = IMPLICIT_PROGRAMME


Fields = dict[str, Any]
Step = Callable[[Fields, UpcastContext], Fields]


def _v1_to_v2(fields: Fields, context: UpcastContext) -> Fields:
    """Version 2 adds the programme: a version-1 event belongs to the deployment's default. An
    `SMESelected` payload gains `business_id`, unknown (None) for a version-1 event."""
    upcast = {**fields, "schema_version": 2, "programme_id": context.default_programme}
    if fields["event_type"] in v1.OWN_PAYLOADS:
        payload = _CURRENT[fields["event_type"]].model_fields["payload"].annotation
        upcast["payload"] = payload.model_construct(**dict(fields["payload"]))  # type: ignore[union-attr]
    return upcast


def _v2_to_v1(fields: Fields) -> Fields:
    """Back to how a version-1 sender wrote it (an event upcast from version 1 only, so its
    version-2 fields are the ones `_v1_to_v2` gave it)."""
    downcast = {name: value for name, value in fields.items() if name != "programme_id"} | {"schema_version": 1}
    own = v1.OWN_PAYLOADS.get(fields["event_type"])
    if own is not None:
        downcast["payload"] = own.model_construct(
            **{name: getattr(fields["payload"], name) for name in own.model_fields}
        )
    return downcast


STEPS: dict[int, Step] = {1: _v1_to_v2}
"""Version n → n + 1, for every released version before the current one."""
DOWN: dict[int, Callable[[Fields], Fields]] = {2: _v2_to_v1}
"""Version n → n - 1 for what `STEPS` upcast: the exact inverse, so an upcast event encodes
byte for byte as its sender's version did (its identity, `crm.contract.identity`)."""


def upcast(event: BaseModel, context: UpcastContext) -> DomainEvent:
    """`event` (a validated model of any supported version) in the current version."""
    fields = {name: getattr(event, name) for name in type(event).model_fields}
    version = int(fields["schema_version"])
    while version < SCHEMA_VERSION:
        fields = STEPS[version](fields, context)
        version += 1
    current = _CURRENT[fields["event_type"]].model_validate(fields)
    current._written_in = int(event.schema_version)  # type: ignore[attr-defined]
    return current  # type: ignore[return-value]


def downcast(event: DomainEvent) -> BaseModel:
    """An upcast event as the model of the version it was written in (to encode it)."""
    fields = {name: getattr(event, name) for name in type(event).model_fields}
    version = SCHEMA_VERSION
    while version > event.written_in:
        fields = DOWN[version](fields)
        version -= 1
    return _OLDER_MODELS[version][event.event_type].model_construct(**fields)


_CURRENT = {model.__name__: model for model in DOMAIN_EVENT_TYPES}
_OLDER_MODELS = {v1.VERSION: v1.BY_TYPE}
