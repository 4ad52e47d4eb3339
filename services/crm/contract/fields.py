"""Constrained field types shared by every event of the contract."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, WithJsonSchema

from crm.contract.country_codes import ISO_3166_ALPHA2

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# `/` is reserved: Kafka keys are `partner_id/sme_id` and `partner_id/pilot_id`.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"


def _known_country(code: str) -> str:
    if code not in ISO_3166_ALPHA2:
        raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-2 country code")
    return code


CountryCode = Annotated[
    str,
    AfterValidator(_known_country),
    WithJsonSchema(
        {
            "type": "string",
            "description": "ISO 3166-1 alpha-2 country code",
            "enum": sorted(ISO_3166_ALPHA2),
        }
    ),
]

PartnerId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=2, max_length=64)]
"""A partner's lowercase slug, e.g. `tehnopol`, `business-tampere`."""

ProgrammeId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=2, max_length=64)]
"""A programme's lowercase slug, e.g. `4smartgrowth`; `default` when a deployment names none."""

BusinessId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ./-]*$", min_length=1, max_length=64)]
"""A national business registry code, e.g. a Y-tunnus `1572860-0` (checked for its country by
`crm.contract.business_ids`)."""

EntityId = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN, min_length=1, max_length=128)]
"""An identifier chosen by the partner (SME, pilot, agreement)."""


def _storable(text: str) -> str:
    # PostgreSQL cannot store U+0000 in text or JSON: accepting it would hand the projector an
    # event no transaction can ever apply. (Lone surrogates never get this far: the JSON parser
    # refuses them.) Identifiers and slugs exclude it by their patterns.
    if "\x00" in text:
        raise ValueError("must not contain the NUL character (U+0000)")
    return text


ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_storable)]
"""A name, counterpart, region, title or sector."""

LongText = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_storable)]
"""Free-text notes."""

PositiveHours = Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)]
AmountEur = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]


def _representable_in_utc(value: datetime) -> datetime:
    # 9999-12-31T23:59:59-01:00 parses, but its UTC instant is past datetime.max: every consumer
    # normalises to UTC, so such a timestamp would crash the encoder instead of being refused.
    # An offset is under 24 h, so only years 1 and 9999 can overflow; the check runs on every
    # event a consumer decodes, and astimezone() was a measurable share of the projector's CPU.
    if 1 < value.year < 9999:
        return value
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range once converted to UTC (years 0001 to 9999)") from None
    return value


EventTime = Annotated[AwareDatetime, AfterValidator(_representable_in_utc)]
"""An instant with a time zone (RFC 3339) that exists in UTC."""
