"""The contract gate: released versions are frozen, and no version breaks the one before it.

For every `schema_version` registered in `crm.contract.schema_export.CONTRACT_VERSIONS`:

* a released version's committed files (`schemas/v<N>/*.json`) are exactly what its models
  generate, no file more or less: once released, a version's models must not change;
* each version is backward compatible (Confluent's BACKWARD: a consumer of the new version reads
  every event valid under the old one) with the version before it, apart from the paths its
  upcaster supplies (`ContractVersion.supplied_by_upcaster`).

With version 1 alone the second check compares nothing; it bites when version 2 is registered,
and the last test shows it biting on a stand-in version 2.
"""

from pathlib import Path
from typing import Literal

import pytest
from pydantic import create_model

from crm.contract import events, schema_export
from crm.contract.events import SCHEMA_VERSION
from crm.contract.fields import EntityId
from crm.contract.schema_export import (
    CONTRACT_VERSIONS,
    ContractVersion,
    committed_schema_files,
    event_json_schemas,
    event_type_of,
    incompatibilities,
    rendered_schema_files,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
VERSIONS = sorted(CONTRACT_VERSIONS)


def test_the_versions_are_registered() -> None:
    assert VERSIONS, "CONTRACT_VERSIONS is empty"
    assert VERSIONS[0] == 1
    assert CONTRACT_VERSIONS[1].released
    assert SCHEMA_VERSION in CONTRACT_VERSIONS, "the version the code emits has no schemas"
    assert not CONTRACT_VERSIONS[VERSIONS[0]].supplied_by_upcaster, "nothing comes before the first version"


def test_every_released_version_is_frozen() -> None:
    released = [version for version in VERSIONS if CONTRACT_VERSIONS[version].released]
    assert released
    rendered = rendered_schema_files()
    for version in released:
        directory = SCHEMAS / f"v{version}"
        committed = {path.name: path.read_text(encoding="utf-8") for path in sorted(directory.glob("*.json"))}
        generated = {
            name.removeprefix(f"v{version}/"): text
            for name, text in rendered.items()
            if name.startswith(f"v{version}/")
        }
        assert sorted(committed) == sorted(generated), f"v{version}: event types added or removed"
        changed = [name for name in generated if committed[name] != generated[name]]
        assert changed == [], f"v{version} is released and frozen; its models now generate other JSON"


def test_each_version_is_backward_compatible_with_the_one_before() -> None:
    assert VERSIONS
    files = committed_schema_files(SCHEMAS)
    assert all(files[version] for version in VERSIONS), "a registered version has no committed files"
    assert incompatibilities(files) == []


def test_the_upcasters_supply_fields_of_event_types_that_exist() -> None:
    for version in VERSIONS:
        event_types = {event_type_of(model) for model in CONTRACT_VERSIONS[version].models}
        assert set(CONTRACT_VERSIONS[version].supplied_by_upcaster) <= event_types, f"v{version}"


def test_the_gate_bites_on_a_second_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A stand-in version 2: every envelope gets a required `programme_id` and `schema_version: 2`."""
    v1_models = CONTRACT_VERSIONS[1].models
    v2_models = tuple(
        create_model(
            f"{model.__name__}V2",
            __base__=model,
            schema_version=(Literal[2], ...),
            programme_id=(EntityId, ...),
        )
        for model in v1_models
    )
    event_types = [event_type_of(model) for model in v1_models]
    upcaster = {event_type: frozenset({"programme_id", "schema_version"}) for event_type in event_types}

    def register(models: tuple[type[events.Envelope], ...], supplied: dict[str, frozenset[str]]) -> list[str]:
        monkeypatch.setattr(
            schema_export,
            "CONTRACT_VERSIONS",
            {1: CONTRACT_VERSIONS[1], 2: ContractVersion(models=models, supplied_by_upcaster=supplied, released=False)},
        )
        return incompatibilities({version: event_json_schemas(version) for version in (1, 2)})

    assert {event_type_of(model) for model in v2_models} == set(event_types)
    assert register(v2_models, upcaster) == []
    without_upcaster = register(v2_models, {})
    assert "v1 -> v2: PilotOpened: programme_id: new required property" in without_upcaster
    assert "v1 -> v2: PilotOpened: schema_version: const changed from 1 to 2" in without_upcaster
    assert len(without_upcaster) == 2 * len(event_types)
    assert register(v2_models[1:], upcaster) == [f"v1 -> v2: {event_types[0]}: event type removed"]

    register(v2_models, upcaster)
    written = {path.relative_to(tmp_path).as_posix() for path in schema_export.write_schema_files(tmp_path)}
    assert {f"v2/{event_type}.json" for event_type in event_types} <= written
    assert {f"v1/{event_type}.json" for event_type in event_types} <= written
    assert (
        '"$id": "https://smartgrowth-crm.example/schemas/v2/PilotOpened.json"'
        in (tmp_path / "v2" / "PilotOpened.json").read_text()
    )
