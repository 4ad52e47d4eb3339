"""schemas/ is generated from the models: in sync, valid, and agreeing with validation."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from crm.contract.schema_export import asyncapi_document, event_json_schemas, stale_schema_files
from tests.support.events import EXAMPLES, envelope

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_checked_in_schema_files_match_the_models() -> None:
    assert stale_schema_files(SCHEMAS) == [], "run `crm schemas generate` and commit the result"


def test_stale_files_are_detected(tmp_path: Path) -> None:
    (tmp_path / "PilotOpened.json").write_text("{}")
    stale = stale_schema_files(tmp_path)
    assert "PilotOpened.json" in stale
    assert "asyncapi.yaml" in stale


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_json_schemas_accept_valid_events_and_refuse_bad_codes(event_type: str) -> None:
    schema = json.loads((SCHEMAS / f"{event_type}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(envelope(event_type))) == []
    assert list(validator.iter_errors(envelope(event_type, extra_field=1)))


def test_json_schema_refuses_unknown_country_codes() -> None:
    validator = jsonschema.Draft202012Validator(event_json_schemas()["PilotOpened.json"])
    assert list(validator.iter_errors(envelope("PilotOpened", dict(EXAMPLES["PilotOpened"]) | {"market": "XX"})))


def test_asyncapi_document_describes_the_three_topics() -> None:
    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {"crm.events", "crm.alerts", "crm.events.dlq"}
    assert set(document["channels"]["events"]["messages"]) == set(EXAMPLES)
    assert set(document["channels"]["alerts"]["messages"]) == {"PilotStalled", "PilotStallResolved"}


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
