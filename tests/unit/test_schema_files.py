"""schemas/ is generated from the models: in sync, valid, and agreeing with validation.

The JSON Schemas are per contract version (`schemas/v1/<EventType>.json`); the examples of
tests.support.events are envelopes of the version the code emits (events.SCHEMA_VERSION).
"""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from crm.contract.events import SCHEMA_VERSION
from crm.contract.schema_export import (
    CONTRACT_VERSIONS,
    FrozenSchemaError,
    asyncapi_document,
    event_json_schemas,
    rendered_schema_files,
    stale_schema_files,
    write_schema_files,
)
from tests.support.events import EXAMPLES, envelope

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
EMITTED = SCHEMAS / f"v{SCHEMA_VERSION}"


def test_checked_in_schema_files_match_the_models() -> None:
    assert stale_schema_files(SCHEMAS) == [], "run `crm schemas generate` and commit the result"


def test_stale_files_are_detected(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "PilotOpened.json").write_text("{}")
    stale = stale_schema_files(tmp_path)
    assert "v1/PilotOpened.json" in stale
    assert "v1/SMESelected.json" in stale
    assert "asyncapi.yaml" in stale


def test_files_the_models_do_not_generate_are_reported(tmp_path: Path) -> None:
    write_schema_files(tmp_path)
    assert stale_schema_files(tmp_path) == []
    (tmp_path / "PilotOpened.json").write_text("{}")  # the layout before versions
    (tmp_path / "v1" / "Dropped.json").write_text("{}")
    assert stale_schema_files(tmp_path) == [
        "PilotOpened.json (not generated: remove it)",
        "v1/Dropped.json (not generated: remove it)",
    ]


def test_the_layout_is_one_directory_per_version_and_one_asyncapi_document() -> None:
    names = set(rendered_schema_files())
    assert "asyncapi.yaml" in names
    for version in CONTRACT_VERSIONS:
        assert {f"v{version}/{name}" for name in event_json_schemas(version)} <= names
    assert {f"v1/{event_type}.json" for event_type in EXAMPLES} <= names
    assert all(name == "asyncapi.yaml" or name.startswith("v") for name in names)


def test_generation_refuses_to_change_a_released_version(tmp_path: Path) -> None:
    write_schema_files(tmp_path)
    edited = tmp_path / "v1" / "PilotOpened.json"
    edited.write_text(edited.read_text().replace('"maxLength": 200', '"maxLength": 100'))
    (tmp_path / "asyncapi.yaml").write_text("stale")
    with pytest.raises(FrozenSchemaError) as refused:
        write_schema_files(tmp_path)
    assert refused.value.files == ["v1/PilotOpened.json"]
    assert (tmp_path / "asyncapi.yaml").read_text() == "stale"  # nothing written


def _in_version(body: dict[str, object], version: int) -> dict[str, object]:
    """`envelope()` writes version 1; version 2 adds the programme."""
    return body if version == 1 else {**body, "schema_version": version, "programme_id": "4smartgrowth"}


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_json_schemas_accept_valid_events_and_refuse_bad_codes(event_type: str, version: int) -> None:
    schema = json.loads((SCHEMAS / f"v{version}" / f"{event_type}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(_in_version(envelope(event_type), version))) == []
    assert list(validator.iter_errors(_in_version(envelope(event_type, extra_field=1), version)))
    assert list(validator.iter_errors(_in_version(envelope(event_type), 3 - version)))  # the other version's


def test_json_schema_refuses_unknown_country_codes() -> None:
    validator = jsonschema.Draft202012Validator(event_json_schemas(SCHEMA_VERSION)["PilotOpened.json"])
    event = envelope("PilotOpened", dict(EXAMPLES["PilotOpened"]) | {"market": "XX"})
    assert list(validator.iter_errors(_in_version(event, SCHEMA_VERSION)))


def test_asyncapi_document_describes_the_three_topics() -> None:
    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {"crm.events", "crm.alerts", "crm.events.dlq"}
    every_version = {f"{event_type}.v{version}" for event_type in EXAMPLES for version in CONTRACT_VERSIONS}
    assert set(document["channels"]["events"]["messages"]) == every_version
    assert set(document["channels"]["alerts"]["messages"]) == {"PilotStalled", "PilotStallResolved"}


ASYNCAPI_SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "asyncapi" / "asyncapi-3.0.0.schema.json"


def test_the_asyncapi_document_is_valid_against_the_official_asyncapi_3_schema() -> None:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())
    assert [error.message for error in validator.iter_errors(document)] == []
    broken = json.loads(json.dumps(document))
    broken["components"]["messages"]["PilotOpened.v1"]["payload"] = 5
    assert list(validator.iter_errors(broken))  # the check can fail


@pytest.mark.parametrize("version", sorted(CONTRACT_VERSIONS))
@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_each_versions_message_in_the_asyncapi_document_takes_that_version_only(event_type: str, version: int) -> None:
    document = asyncapi_document()
    payload = document["components"]["messages"][f"{event_type}.v{version}"]["payload"]
    validator = jsonschema.Draft202012Validator({**payload, "components": document["components"]})
    assert list(validator.iter_errors(_in_version(envelope(event_type), version))) == []
    assert list(validator.iter_errors(_in_version(envelope(event_type), 3 - version)))  # the other version's


def test_every_reference_in_the_asyncapi_document_resolves() -> None:
    document = asyncapi_document()

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for ref in refs(document):
        target: object = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"dangling reference {ref}"
            target = target[part]
