"""Generate `schemas/` from the contract models: JSON Schemas per version, one AsyncAPI document.

Layout::

    schemas/asyncapi.yaml             the topics and the messages of every version
    schemas/v1/<EventType>.json       one self-contained JSON Schema (2020-12) per event type
    schemas/v2/<EventType>.json       ... one directory per registered `schema_version`

`CONTRACT_VERSIONS` maps each envelope `schema_version` to the models that define it; that
mapping is the only thing to change when a version is added. A released version is frozen:
`write_schema_files` refuses to change its files once written (its models must keep generating
exactly the same JSON), and every version must be backward compatible with the one before it
(`crm.contract.compatibility`; `crm schemas check` and tests/unit/test_contract_gate.py).

Adding version 2 (new models whose `schema_version` is `Literal[2]`, e.g. with a required
`programme_id` that the upcaster fills in for version-1 events) is one more entry::

    CONTRACT_VERSIONS = {
        1: ContractVersion(models=V1_MODELS),
        2: ContractVersion(
            models=V2_MODELS,
            supplied_by_upcaster={
                event_type: frozenset({"programme_id", "schema_version"}) for event_type in V2_EVENT_TYPES
            },
            released=False,  # while version 2 is being developed; True once it ships
        ),
    }

then `make schemas` writes `schemas/v2/`. `supplied_by_upcaster` lists, per event type, the dotted
paths the upcaster from version 1 writes (a new required field; `schema_version` itself when its
const goes from 1 to 2); the compatibility gate lets exactly those through. Version 1's models
must stay importable and keep generating byte-identical files: if they move to another module
or the version-2 classes take their names, keep version 1's class names (they are the schemas'
titles and `$defs` keys) or the freeze test fails. A version's file names are the models'
`event_type` values, so class names such as `PilotOpenedV2` do not change them.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from crm import __version__
from crm.contract import v1
from crm.contract.compatibility import compare_versions
from crm.contract.events import ALERT_EVENT_TYPES, ALERT_SCHEMA_VERSION, DOMAIN_EVENT_TYPES, SCHEMA_VERSION
from crm.contract.lifecycle import SUPERSEDED_ON
from crm.contract.topics import DLQ_HEADERS, TOPIC_DEFAULTS

ASYNCAPI_FILE = "asyncapi.yaml"
SCHEMA_ID_BASE = "https://smartgrowth-crm.example/schemas"


@dataclass(frozen=True)
class ContractVersion:
    """The models of one envelope `schema_version`, and how events of the previous one reach it."""

    models: tuple[type[BaseModel], ...]
    """One model per event type (a whole envelope: `event_type`, `schema_version`, `payload`, ...)."""
    supplied_by_upcaster: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Per event type, the dotted paths the upcaster from the previous version writes."""
    released: bool = True
    """A released version's files are frozen: never rewritten, only compared against."""


CONTRACT_VERSIONS: Mapping[int, ContractVersion] = {
    1: ContractVersion(models=(*v1.EVENT_TYPES, *ALERT_EVENT_TYPES)),
    # The alerts topic's events keep their own schema_version 1, in version 2 as in version 1.
    2: ContractVersion(
        models=(*DOMAIN_EVENT_TYPES, *ALERT_EVENT_TYPES),
        supplied_by_upcaster={
            model.__name__: frozenset({"programme_id", "schema_version"}) for model in DOMAIN_EVENT_TYPES
        },
        released=False,  # until the release that ships it: then True, and schemas/v2/ is frozen
    ),
}
"""Every `schema_version` of the envelope, oldest first; see the module docstring to add one."""


class FrozenSchemaError(RuntimeError):
    """Generating would change files of a released version."""

    def __init__(self, files: list[str]) -> None:
        self.files = files
        super().__init__(
            f"released schema files would change: {', '.join(files)}. A released version is frozen: restore "
            "edited files from git, keep its models generating the same JSON, and put changes in a new version "
            "(CONTRACT_VERSIONS)"
        )


def version_directory(version: int) -> str:
    return f"v{version}"


def event_type_of(model: type[BaseModel]) -> str:
    """The model's `event_type` literal (`PilotOpened`); its class name when there is none."""
    event_type = model.model_fields.get("event_type")
    if event_type is not None and get_origin(event_type.annotation) is Literal:
        values = get_args(event_type.annotation)
        if len(values) == 1 and isinstance(values[0], str):
            return values[0]
    return model.__name__


def event_json_schemas(version: int = SCHEMA_VERSION) -> dict[str, dict[str, Any]]:
    """One self-contained JSON Schema (draft 2020-12) per event type of `version` (by default the
    version the code emits), keyed by file name (`PilotOpened.json`)."""
    schemas = {}
    for model in CONTRACT_VERSIONS[version].models:
        name = f"{event_type_of(model)}.json"
        schema = model.model_json_schema(mode="validation")
        schemas[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            # The version is part of the identity: v1 and v2 of an event type are different schemas.
            "$id": f"{SCHEMA_ID_BASE}/{version_directory(version)}/{name}",
            **schema,
        }
    return schemas


def incompatibilities(files_by_version: Mapping[int, Mapping[str, dict[str, Any]]]) -> list[str]:
    """Breaking changes from each registered version to the next (`v1 -> v2: PilotOpened: ...`)."""
    versions = sorted(CONTRACT_VERSIONS)
    problems: list[str] = []
    for previous, version in pairwise(versions):
        supplied = CONTRACT_VERSIONS[version].supplied_by_upcaster
        changes = compare_versions(files_by_version[previous], files_by_version[version], supplied)
        problems.extend(f"v{previous} -> v{version}: {change}" for change in changes)
    return problems


def message_id(model: type[BaseModel], version: int) -> str:
    """The AsyncAPI message id of a domain event type in one contract version (`PilotOpened.v1`)."""
    return f"{event_type_of(model)}.{version_directory(version)}"


def _namespaced_schemas(models: list[type[BaseModel]], namespace: str) -> dict[str, Any]:
    """The models' JSON Schemas (and their `$defs`) as AsyncAPI components named `<namespace>.<Model>`:
    version 1 and version 2 of `PilotOpened` share a class name, so each version has its own names."""
    _, definitions = models_json_schema(
        [(model, "validation") for model in models],
        ref_template=f"#/components/schemas/{namespace}.{{model}}",
    )
    return {f"{namespace}.{name}": schema for name, schema in sorted(definitions.get("$defs", {}).items())}


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 description of the three topics and the messages of every contract version."""
    domain_by_version = {
        version: [model for model in entry.models if model not in ALERT_EVENT_TYPES]
        for version, entry in CONTRACT_VERSIONS.items()
    }
    component_schemas: dict[str, Any] = {}
    for version, models in domain_by_version.items():
        component_schemas |= _namespaced_schemas(models, version_directory(version))
    component_schemas |= _namespaced_schemas(list(ALERT_EVENT_TYPES), "alerts")
    component_schemas["DeadLetterValue"] = {
        "description": "The original message value, byte for byte, whatever it was.",
        "type": "string",
        "format": "binary",
    }

    def message(model: type[BaseModel], key: str, namespace: str, title: str, note: str = "") -> dict[str, Any]:
        summary = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else model.__name__
        return {
            "name": event_type_of(model),
            "title": title,
            "summary": summary,
            **({"description": note} if note else {}),
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{namespace}.{model.__name__}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
        }

    def status(version: int) -> str:
        if version == SCHEMA_VERSION:
            return "The current version."
        superseded = SUPERSEDED_ON[version].isoformat()
        return (
            f"schema_version {version}: deprecated since {superseded}, still accepted until its sunset "
            f"(CRM_CONTRACT_SUNSETS) and read as version {SCHEMA_VERSION} by upcasting; never rewritten on the log."
        )

    domain_ids = [message_id(m, v) for v, models in domain_by_version.items() for m in models]
    messages = {
        message_id(m, v): message(
            m, "partner_id/sme_id", version_directory(v), f"{event_type_of(m)}, schema_version {v}", status(v)
        )
        for v, models in domain_by_version.items()
        for m in models
    }
    alert_ids = [m.__name__ for m in ALERT_EVENT_TYPES]
    messages |= {
        m.__name__: message(
            m, "partner_id/pilot_id", "alerts", f"{m.__name__}, alert schema_version {ALERT_SCHEMA_VERSION}"
        )
        for m in ALERT_EVENT_TYPES
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "DeadLetter",
        "summary": "A message no consumer could decode or validate, parked with the reason.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "properties": {name: {"type": "string", "description": text} for name, text in DLQ_HEADERS.items()},
            "required": ["dlq.reason", "dlq.source.topic"],
        },
        "payload": {"$ref": "#/components/schemas/DeadLetterValue"},
        "bindings": {"kafka": {"key": {"type": "string", "description": "the original key, as received"}}},
    }

    def refs(names: list[str]) -> dict[str, Any]:
        return {name: {"$ref": f"#/components/messages/{name}"} for name in names}

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "SmartGrowth CRM events",
            "version": __version__,
            "description": (
                "Topics of the SmartGrowth CRM pipeline and the messages of every contract version "
                "(`PilotOpened.v1`, `PilotOpened.v2`, ...; docs/contract.md, Versions). Generated from "
                "crm.contract by `crm schemas generate`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "`crm up` on this machine"}
        },
        "channels": {
            "events": {
                "address": TOPIC_DEFAULTS["events"],
                "description": "Every accepted domain event, in the version it was written in; the log of record "
                "(no deletion by retention).",
                "messages": refs(domain_ids),
            },
            "alerts": {
                "address": TOPIC_DEFAULTS["alerts"],
                "description": "Stalled-pilot alerts and their resolutions.",
                "messages": refs(alert_ids),
            },
            "deadLetters": {
                "address": TOPIC_DEFAULTS["dlq"],
                "description": "Messages no consumer could decode or validate, with the reason in headers.",
                "messages": refs(["DeadLetter"]),
            },
        },
        "operations": {
            "publishEvents": {
                "action": "send",
                "summary": "The ingestion gateway publishes accepted events.",
                "channel": {"$ref": "#/channels/events"},
                "messages": [{"$ref": f"#/channels/events/messages/{name}"} for name in domain_ids],
            },
            "projectEvents": {
                "action": "receive",
                "summary": "The projector applies events to the read models.",
                "channel": {"$ref": "#/channels/events"},
                "messages": [{"$ref": f"#/channels/events/messages/{name}"} for name in domain_ids],
            },
            "publishAlerts": {
                "action": "send",
                "summary": "The alerts service announces stalled pilots and their resolution.",
                "channel": {"$ref": "#/channels/alerts"},
                "messages": [{"$ref": f"#/channels/alerts/messages/{name}"} for name in alert_ids],
            },
            "parkDeadLetters": {
                "action": "send",
                "summary": "Consumers park messages they cannot decode.",
                "channel": {"$ref": "#/channels/deadLetters"},
                "messages": [{"$ref": "#/channels/deadLetters/messages/DeadLetter"}],
            },
        },
        "components": {"messages": messages, "schemas": component_schemas},
    }


def rendered_schema_files() -> dict[str, str]:
    """Path relative to `schemas/` (`v1/PilotOpened.json`, `asyncapi.yaml`) → exact text."""
    files = {}
    for version in CONTRACT_VERSIONS:
        for name, schema in event_json_schemas(version).items():
            files[f"{version_directory(version)}/{name}"] = json.dumps(schema, indent=2, sort_keys=False) + "\n"
    files[ASYNCAPI_FILE] = (
        "# Generated by `crm schemas generate` from crm.contract.events; do not edit.\n"
        + yaml.safe_dump(asyncapi_document(), sort_keys=False, allow_unicode=True, width=100)
    )
    return files


def _released_files() -> set[str]:
    return {
        name
        for name in rendered_schema_files()
        for version, entry in CONTRACT_VERSIONS.items()
        if entry.released and name.startswith(f"{version_directory(version)}/")
    }


def write_schema_files(directory: Path) -> list[Path]:
    """Write every file; raises FrozenSchemaError (writing nothing) if a released file would change."""
    rendered = rendered_schema_files()
    released = _released_files()
    frozen = [
        name
        for name, text in rendered.items()
        if name in released and (directory / name).exists() and (directory / name).read_text(encoding="utf-8") != text
    ]
    if frozen:
        raise FrozenSchemaError(frozen)
    written = []
    for name, text in rendered.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schema_files(directory: Path) -> list[str]:
    """Files under `directory` that differ from, are missing from, or are not among what the models generate."""
    rendered = rendered_schema_files()
    stale = [
        name
        for name, text in rendered.items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]
    present = [*directory.glob("*.json"), *directory.glob("v*/*.json")] if directory.is_dir() else []
    stale += sorted(
        f"{name} (not generated: remove it)"
        for name in (path.relative_to(directory).as_posix() for path in present)
        if name not in rendered
    )
    return stale


def committed_schema_files(directory: Path) -> dict[int, dict[str, dict[str, Any]]]:
    """The JSON Schemas under `directory`, per registered version (`{1: {"PilotOpened.json": {...}}}`)."""
    return {
        version: {
            path.name: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((directory / version_directory(version)).glob("*.json"))
        }
        for version in CONTRACT_VERSIONS
    }
