"""Version 1 of the domain events, frozen: the contract partners were first given.

Released and on the log of record, so it never changes (the schemas in `schemas/v1/` are
committed and a test compares them). Its payloads are today's payload models but those a later
version changed, of which this module keeps its own copy (`OWN_PAYLOADS`, same class names: they
are the schemas' `$defs` keys). Nothing but decoding
(`crm.contract.decoding`) and the identity of version-1 events (`crm.contract.identity`) uses
these models; everything else sees events upcast to the current version.
"""

from typing import Annotated, Literal, Union
from uuid import UUID

from pydantic import BaseModel, Field, create_model

from crm.contract import events as current
from crm.contract.events import EnvelopeBase, Payload
from crm.contract.fields import CountryCode, EntityId, EventTime, PartnerId, ShortText

VERSION = 1


class SMESelectedPayload(Payload):
    # Version 1's: no `business_id`. No docstring: it would become the schema's description.
    name: ShortText
    country: CountryCode
    sector: ShortText
    target_markets: Annotated[list[CountryCode], Field(max_length=50)]


OWN_PAYLOADS: dict[str, type[BaseModel]] = {"SMESelected": SMESelectedPayload}
"""Per event type, the version-1 payload where the current version changed it."""


class EnvelopeV1(EnvelopeBase):
    """The version-1 envelope: no `programme_id`."""

    event_id: UUID
    event_type: str
    schema_version: Literal[1]
    occurred_at: EventTime
    partner_id: PartnerId
    sme_id: EntityId


def _event_model(model: type[current.Envelope]) -> type[EnvelopeV1]:
    name = model.__name__
    payload = OWN_PAYLOADS.get(name, model.model_fields["payload"].annotation)
    return create_model(  # type: ignore[call-overload, no-any-return, arg-type]
        name,
        __base__=EnvelopeV1,
        __module__=__name__,
        __doc__=model.__doc__,
        event_type=(Literal[name], ...),  # type: ignore[valid-type, arg-type]
        payload=(payload, ...),  # type: ignore[arg-type]
    )


EVENT_TYPES: tuple[type[EnvelopeV1], ...] = tuple(_event_model(model) for model in current.DOMAIN_EVENT_TYPES)
"""The version-1 model of each domain event type, in the current module's order, same names."""

BY_TYPE: dict[str, type[EnvelopeV1]] = {model.__name__: model for model in EVENT_TYPES}

DomainEventV1 = Union[tuple(EVENT_TYPES)]  # type: ignore[valid-type]
