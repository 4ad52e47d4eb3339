"""`SMESelected.business_id`: checked for the SME's country, kept compact, version 2 only."""

import json

import pytest

from crm.contract.business_ids import REGISTRIES, normalised_business_id, registry_name
from crm.contract.decoding import InvalidEvents, decode_events, encode_event
from tests.support.events import envelope


def selected(business_id: str | None, country: str = "FI", version: int = 2) -> dict[str, object]:
    payload = {"name": "Kalkku Oy", "country": country, "sector": "mobility", "target_markets": ["CN"]}
    if business_id is not None:
        payload["business_id"] = business_id
    body = envelope("SMESelected", payload)
    return body if version == 1 else {**body, "schema_version": 2, "programme_id": "4smartgrowth"}


@pytest.mark.parametrize(
    ("country", "written", "compact"),
    [
        ("FI", "1572860-0", "15728600"),
        ("FI", "FI 1572860-0", "15728600"),
        ("EE", "10137025", "10137025"),
        ("SE", "556012-5790", "5560125790"),
        ("CN", "91 3101 abc", "913101ABC"),  # no registry check known: spaces dropped, upper case
    ],
)
def test_a_code_is_kept_in_its_compact_form(country: str, written: str, compact: str) -> None:
    assert normalised_business_id(country, written) == compact
    (event,) = decode_events(json.dumps(selected(written, country)))
    assert event.payload.business_id == compact  # type: ignore[union-attr]
    assert json.loads(encode_event(event))["payload"]["business_id"] == compact


@pytest.mark.parametrize(
    ("country", "code", "why"),
    [
        ("FI", "1572860-1", "checksum"),
        ("EE", "1234", "length"),
        ("SE", "556012-579X", "format"),
    ],
)
def test_a_code_that_fails_its_countrys_check_is_refused_naming_the_field(country: str, code: str, why: str) -> None:
    with pytest.raises(InvalidEvents) as refused:
        decode_events(json.dumps(selected(code, country)))
    (problem,) = refused.value.problems
    assert problem.field == "payload.business_id"
    assert problem.message.startswith(f"not a valid {registry_name(country)} for country {country}")
    assert why in problem.message


def test_a_bad_country_is_reported_once_and_not_as_a_bad_code() -> None:
    with pytest.raises(InvalidEvents) as refused:
        decode_events(json.dumps(selected("1572860-0", country="XX")))
    assert [p.field for p in refused.value.problems] == ["payload.country"]


def test_version_1_has_no_business_id_and_upcasts_without_one() -> None:
    with pytest.raises(InvalidEvents) as refused:
        decode_events(json.dumps(selected("1572860-0", version=1)))
    assert [(p.field, p.message) for p in refused.value.problems] == [("payload.business_id", "unexpected field")]
    body = selected(None, version=1)
    (event,) = decode_events(json.dumps(body))
    assert event.payload.business_id is None  # type: ignore[union-attr]
    assert json.loads(encode_event(event)) == body  # written back exactly as version 1


def test_every_registry_check_is_named_and_for_a_country_code() -> None:
    assert all(len(country) == 2 and country.isupper() for country in REGISTRIES)
    assert all(registry_name(country) for country in REGISTRIES)
    assert registry_name("CN") is None
