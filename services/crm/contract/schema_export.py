"""Generate `schemas/` (JSON Schema per event type, AsyncAPI 3.0) from the contract models."""

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from crm import __version__
from crm.contract.events import ALERT_EVENT_TYPES, DOMAIN_EVENT_TYPES, Envelope
from crm.contract.topics import DLQ_HEADERS, TOPIC_DEFAULTS

ASYNCAPI_FILE = "asyncapi.yaml"


def event_json_schemas() -> dict[str, dict[str, Any]]:
    """One self-contained JSON Schema (draft 2020-12) per event type, keyed by file name."""
    schemas = {}
    for model in (*DOMAIN_EVENT_TYPES, *ALERT_EVENT_TYPES):
        schema = model.model_json_schema(mode="validation")
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://smartgrowth-crm.example/schemas/{model.__name__}.json",
            **schema,
        }
        schemas[f"{model.__name__}.json"] = schema
    return schemas


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 description of the three topics and their messages."""
    models: list[type[Envelope]] = [*DOMAIN_EVENT_TYPES, *ALERT_EVENT_TYPES]
    _, definitions = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}",
    )
    component_schemas = dict(sorted(definitions.get("$defs", {}).items()))
    component_schemas["DeadLetterValue"] = {
        "description": "The original message value, byte for byte, whatever it was.",
        "type": "string",
        "format": "binary",
    }

    def message(model: type[Envelope], key: str) -> dict[str, Any]:
        return {
            "name": model.__name__,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else model.__name__,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
        }

    messages = {m.__name__: message(m, "partner_id/sme_id") for m in DOMAIN_EVENT_TYPES}
    messages |= {m.__name__: message(m, "partner_id/pilot_id") for m in ALERT_EVENT_TYPES}
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
                "Topics of the SmartGrowth CRM pipeline. Generated from crm.contract.events by "
                "`crm schemas generate`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "`crm up` on this machine"}
        },
        "channels": {
            "events": {
                "address": TOPIC_DEFAULTS["events"],
                "description": "Every accepted domain event; the log of record (no deletion by retention).",
                "messages": refs([m.__name__ for m in DOMAIN_EVENT_TYPES]),
            },
            "alerts": {
                "address": TOPIC_DEFAULTS["alerts"],
                "description": "Stalled-pilot alerts and their resolutions.",
                "messages": refs([m.__name__ for m in ALERT_EVENT_TYPES]),
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
                "messages": [{"$ref": f"#/channels/events/messages/{m.__name__}"} for m in DOMAIN_EVENT_TYPES],
            },
            "projectEvents": {
                "action": "receive",
                "summary": "The projector applies events to the read models.",
                "channel": {"$ref": "#/channels/events"},
                "messages": [{"$ref": f"#/channels/events/messages/{m.__name__}"} for m in DOMAIN_EVENT_TYPES],
            },
            "publishAlerts": {
                "action": "send",
                "summary": "The alerts service announces stalled pilots and their resolution.",
                "channel": {"$ref": "#/channels/alerts"},
                "messages": [{"$ref": f"#/channels/alerts/messages/{m.__name__}"} for m in ALERT_EVENT_TYPES],
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
    """File name → exact text, as checked in under `schemas/`."""
    files = {
        name: json.dumps(schema, indent=2, sort_keys=False) + "\n" for name, schema in event_json_schemas().items()
    }
    files[ASYNCAPI_FILE] = (
        "# Generated by `crm schemas generate` from crm.contract.events; do not edit.\n"
        + yaml.safe_dump(asyncapi_document(), sort_keys=False, allow_unicode=True, width=100)
    )
    return files


def write_schema_files(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_schema_files().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schema_files(directory: Path) -> list[str]:
    """Names of files under `directory` that differ from (or are missing versus) the models."""
    stale = []
    for name, text in rendered_schema_files().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale
