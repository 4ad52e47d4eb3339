"""crm.contract.compatibility on the real generated schemas, with deliberate changes applied.

Each case edits a deep copy of what the models generate today and states exactly which breaking
changes (dotted path first) the checker reports: none for a widening change.
"""

import copy
from collections.abc import Callable
from typing import Any

import pytest

from crm.contract.compatibility import breaking_changes, compare_versions
from crm.contract.schema_export import event_json_schemas

Schema = dict[str, Any]
REAL = event_json_schemas(1)  # released, so frozen: these cases stay valid as versions are added


def payload_of(schema: Schema) -> Schema:
    (name,) = (key for key in schema["$defs"] if key.endswith("Payload"))
    payload: Schema = schema["$defs"][name]
    return payload


def field(schema: Schema, name: str) -> Schema:
    found: Schema = payload_of(schema)["properties"][name]
    return found


def changed(file: str, edit: Callable[[Schema], object]) -> tuple[Schema, Schema]:
    old = REAL[file]
    new = copy.deepcopy(old)
    edit(new)
    return old, new


def drop_enum_value(value: str) -> Callable[[Schema], None]:
    def edit(schema: Schema) -> None:
        field(schema, "country")["enum"].remove(value)

    return edit


def add_envelope_field(required: bool) -> Callable[[Schema], None]:
    def edit(schema: Schema) -> None:
        schema["properties"]["programme_id"] = {"type": "string", "minLength": 1, "maxLength": 64}
        if required:
            schema["required"].append("programme_id")

    return edit


def set_keys(target: Callable[[Schema], Schema], **values: Any) -> Callable[[Schema], None]:
    def edit(schema: Schema) -> None:
        target(schema).update(values)

    return edit


def optional_branch(name: str, index: int = 0) -> Callable[[Schema], Schema]:
    return lambda schema: field(schema, name)["anyOf"][index]


def make_required(name: str) -> Callable[[Schema], None]:
    return lambda schema: payload_of(schema)["required"].append(name)


def only_string(schema: Schema) -> None:
    note = field(schema, "note")
    del note["anyOf"], note["default"]
    note.update(type="string", maxLength=4000)


def inline_payload(schema: Schema) -> None:
    definitions = schema.pop("$defs")
    schema["properties"]["payload"] = definitions["PilotOpenedPayload"]


def rename_payload_definition(schema: Schema) -> None:
    schema["$defs"] = {"Renamed": schema["$defs"].pop("PilotOpenedPayload")}
    schema["properties"]["payload"] = {"$ref": "#/$defs/Renamed", "description": "the payload"}


def greater_than_zero(schema: Schema) -> None:
    threshold = field(schema, "threshold_days")  # an integer, `minimum: 1`
    del threshold["minimum"]
    threshold["exclusiveMinimum"] = 0


def country_as_pattern(pattern: str) -> Callable[[Schema], None]:
    def edit(schema: Schema) -> None:
        country = field(schema, "country")
        del country["enum"]
        country["pattern"] = pattern

    return edit


BREAKING: list[tuple[str, Callable[[Schema], object], list[str]]] = [
    (
        "MeetingHeld.json",
        lambda schema: payload_of(schema)["properties"].pop("notes"),
        ["payload.notes: property removed"],
    ),
    (
        "SMESelected.json",
        set_keys(lambda schema: field(schema, "name"), maxLength=100),
        ["payload.name: maxLength narrowed from 200 to 100"],
    ),
    (
        "SMESelected.json",
        set_keys(lambda schema: field(schema, "name"), minLength=3),
        ["payload.name: minLength narrowed from 1 to 3"],
    ),
    ("SMESelected.json", drop_enum_value("EE"), ['payload.country: enum values removed: "EE"']),
    (
        "SMESelected.json",
        lambda schema: field(schema, "target_markets")["items"]["enum"].remove("CN"),
        ['payload.target_markets[]: enum values removed: "CN"'],
    ),
    (
        "SMESelected.json",
        set_keys(lambda schema: field(schema, "target_markets"), maxItems=10),
        ["payload.target_markets: maxItems narrowed from 50 to 10"],
    ),
    (
        "SMESelected.json",
        set_keys(lambda schema: field(schema, "target_markets"), uniqueItems=True),
        ["payload.target_markets: uniqueItems added"],
    ),
    (
        "SMESelected.json",
        country_as_pattern("^[A-D][A-Z]$"),
        ["payload.country: pattern '^[A-D][A-Z]$', so "],
    ),
    (
        "PilotOpened.json",
        set_keys(lambda schema: schema["properties"]["schema_version"], const=2),
        ["schema_version: const changed from 1 to 2"],
    ),
    ("PilotOpened.json", add_envelope_field(required=True), ["programme_id: new required property"]),
    ("PilotOpened.json", make_required("region"), ["payload.region: optional property made required"]),
    (
        "PilotOpened.json",
        set_keys(lambda schema: schema["properties"]["partner_id"], pattern="^[a-z]+$"),
        ['partner_id: pattern changed from "^[a-z0-9]+(?:-[a-z0-9]+)*$" to "^[a-z]+$"'],
    ),
    (
        "PilotOpened.json",
        set_keys(optional_branch("region"), pattern="^[A-Z]"),
        ['payload.region: pattern "^[A-Z]" added'],
    ),
    (
        "PilotOpened.json",
        set_keys(lambda schema: schema["properties"]["event_id"], format="uri"),
        ['event_id: format changed from "uuid" to "uri"'],
    ),
    ("PilotClosed.json", only_string, ["payload.note: type narrowed: null no longer accepted"]),
    (
        "PilotClosed.json",
        lambda schema: field(schema, "outcome")["enum"].remove("withdrawn"),
        ['payload.outcome: enum values removed: "withdrawn"'],
    ),
    (
        "TrainingCompleted.json",
        set_keys(optional_branch("hours"), maximum=100),
        ["payload.hours: maximum narrowed from 10000 to 100"],
    ),
    (
        "TrainingCompleted.json",
        set_keys(optional_branch("hours"), type="integer"),
        ["payload.hours: type narrowed: number no longer accepted"],
    ),
    (
        "TrainingCompleted.json",
        set_keys(optional_branch("hours"), multipleOf=0.5),
        ["payload.hours: multipleOf 0.5 added"],
    ),
    (
        "PilotStalled.json",
        set_keys(lambda schema: field(schema, "idle_days"), minimum=1),
        ["payload.idle_days: minimum narrowed from 0 to 1"],
    ),
    (
        "PilotStalled.json",
        set_keys(lambda schema: field(schema, "idle_days"), maximum=365),
        ["payload.idle_days: maximum 365 added"],
    ),
    (
        "PilotStalled.json",
        set_keys(lambda schema: field(schema, "idle_days"), **{"not": {"const": 7}}),
        ["payload.idle_days: 'not' changed, a keyword the checker does not understand (possibly breaking)"],
    ),
    (
        "PilotStalled.json",
        set_keys(lambda schema: schema["properties"], payload={"$ref": "#/$defs/Missing"}),
        ["payload: $ref '#/$defs/Missing' does not resolve (possibly breaking)"],
    ),
]


@pytest.mark.parametrize(("file", "edit", "expected"), BREAKING)
def test_a_breaking_change_is_reported_with_its_path(
    file: str, edit: Callable[[Schema], object], expected: list[str]
) -> None:
    old, new = changed(file, edit)
    problems = breaking_changes(old, new)
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problems


FINE: list[tuple[str, Callable[[Schema], object]]] = [
    ("SMESelected.json", set_keys(lambda schema: field(schema, "name"), maxLength=400)),
    ("SMESelected.json", set_keys(lambda schema: field(schema, "name"), minLength=0)),
    ("SMESelected.json", lambda schema: field(schema, "country")["enum"].append("XK")),
    ("SMESelected.json", lambda schema: field(schema, "target_markets").pop("maxItems")),
    ("SMESelected.json", country_as_pattern("^[A-Z]{2}$")),
    ("PilotOpened.json", add_envelope_field(required=False)),
    ("PilotOpened.json", lambda schema: payload_of(schema)["required"].remove("counterpart")),
    ("PilotOpened.json", lambda schema: payload_of(schema).pop("additionalProperties")),
    ("PilotOpened.json", lambda schema: schema["properties"]["partner_id"].pop("pattern")),
    ("PilotOpened.json", set_keys(lambda schema: schema["properties"]["partner_id"], type=["string", "null"])),
    ("PilotOpened.json", inline_payload),
    ("PilotOpened.json", rename_payload_definition),
    ("PilotOpened.json", lambda schema: schema.update({"$id": "https://smartgrowth-crm.example/v9/x.json"})),
    ("TrainingCompleted.json", set_keys(optional_branch("hours"), maximum=20_000, exclusiveMinimum=-1)),
    ("PilotStalled.json", set_keys(lambda schema: field(schema, "idle_days"), type="number")),
    # Integers: `> 0` is `>= 1`.
    ("PilotStalled.json", greater_than_zero),
    ("PilotClosed.json", set_keys(lambda schema: field(schema, "outcome"), description="how it ended", title="X")),
]


@pytest.mark.parametrize(("file", "edit"), FINE)
def test_a_widening_or_neutral_change_is_not_reported(file: str, edit: Callable[[Schema], object]) -> None:
    old, new = changed(file, edit)
    assert breaking_changes(old, new) == []


@pytest.mark.parametrize("file", sorted(REAL))
def test_the_real_schemas_compared_with_themselves_give_no_change(file: str) -> None:
    assert breaking_changes(REAL[file], copy.deepcopy(REAL[file])) == []


def test_a_new_required_field_is_fine_when_an_upcaster_supplies_it() -> None:
    old, new = changed("PilotOpened.json", add_envelope_field(required=True))
    new["properties"]["schema_version"]["const"] = 2
    assert len(breaking_changes(old, new)) == 2
    assert breaking_changes(old, new, supplied=frozenset({"programme_id", "schema_version"})) == []
    assert breaking_changes(old, new, supplied=frozenset({"programme_id"})) == [
        "schema_version: const changed from 1 to 2"
    ]


def test_a_supplied_path_inside_the_payload() -> None:
    old, new = changed("PilotOpened.json", make_required("title"))
    assert breaking_changes(old, new) == ["payload.title: optional property made required"]
    assert breaking_changes(old, new, supplied=frozenset({"payload.title"})) == []
    assert breaking_changes(old, new, supplied=frozenset({"title"})) != []


def test_compare_versions_reports_a_removed_event_type_and_accepts_a_new_one() -> None:
    new = {name: copy.deepcopy(schema) for name, schema in REAL.items() if name != "SMEWithdrawn.json"}
    new["ProgrammeJoined.json"] = copy.deepcopy(REAL["SMEWithdrawn.json"])
    assert compare_versions(REAL, new, {}) == ["SMEWithdrawn: event type removed"]


def test_compare_versions_names_the_event_type_and_uses_its_supplied_paths() -> None:
    new = copy.deepcopy(REAL)
    for schema in new.values():
        add_envelope_field(required=True)(schema)
    problems = compare_versions(REAL, new, {"PilotOpened": frozenset({"programme_id"})})
    assert "PilotOpened: programme_id: new required property" not in problems
    assert "PilotClosed: programme_id: new required property" in problems
    assert len(problems) == len(REAL) - 1
    assert compare_versions(REAL, copy.deepcopy(REAL), {}) == []


def test_recursive_definitions_are_compared_without_looping() -> None:
    def tree(max_length: int) -> Schema:
        return {
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "maxLength": max_length},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    },
                }
            },
            "$ref": "#/$defs/Node",
        }

    assert breaking_changes(tree(10), tree(10)) == []
    assert breaking_changes(tree(10), tree(20)) == []
    assert breaking_changes(tree(10), tree(5)) == ["name: maxLength narrowed from 10 to 5"]


def test_open_content_narrowed_by_a_new_property_or_closed() -> None:
    old: Schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert breaking_changes(old, old | {"additionalProperties": False}) == [
        "$: additional properties no longer accepted"
    ]
    with_b = old | {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
    assert breaking_changes(old, with_b) == ["b: type narrowed from any type to integer"]
    removed_a: Schema = {"type": "object"}
    assert breaking_changes(old, removed_a) == []  # still accepted, as an additional property
