"""Rows of an export file turned into envelopes, each remembering its line number.

CSV: a header row, then one event per row.
- `event_type`, `occurred_at` (RFC 3339 with a time zone), `sme_id`: required.
- `event_id`: optional; when empty or absent, derived from the row (below).
- `partner_id`: optional; when present it must be the partner given to `crm import`.
- every other column is a payload field of the catalogue (`name`, `country`, `sector`,
  `target_markets`, `training`, `hours`, `market`, `region`, `counterpart`, `format`, `pilot_id`,
  `notes`, `title`, `note`, `outcome`, `agreement_id`, `agreement_type`, `value_eur`, `reason`).
  An empty cell means "absent". `target_markets` lists codes separated by `;` (`CN;VN`);
  `hours` and `value_eur` are numbers.

JSON Lines: one object per line, `{"event_type", "occurred_at", "sme_id", "payload": {...}}`,
optionally `event_id`, `partner_id`, `schema_version`. Blank lines are skipped.

Deterministic event ids: a row without `event_id` gets
`uuid5(IMPORT_NAMESPACE, canonical JSON of {partner_id, event_type, occurred_at, sme_id, payload})`,
so importing the same file again yields the same ids and the pipeline counts each event once.
Two identical rows are one event.
"""

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from crm.contract import v1
from crm.contract.events import DOMAIN_EVENT_TYPES

IMPORT_NAMESPACE = uuid.UUID("5b7f6f0e-2f7c-4e0a-9a0e-6d1f3c2b9a41")
ENVELOPE_COLUMNS = ("event_id", "event_type", "occurred_at", "partner_id", "sme_id")
PAYLOAD_COLUMNS = frozenset(
    name
    for model in DOMAIN_EVENT_TYPES
    for name in model.model_fields["payload"].annotation.model_fields  # type: ignore[union-attr]
)
_NUMBERS = frozenset({"hours", "value_eur"})
_LISTS = frozenset({"target_markets"})


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    envelope: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    field: str
    message: str


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (unknown columns, not UTF-8, ...)."""


def read_rows(path: Path, partner_id: str) -> tuple[list[Row], list[RowProblem]]:
    """Every row as an envelope, and the problems found while reading (before contract checks)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"{path} is not UTF-8: {error}") from None
    if path.suffix.lower() in (".jsonl", ".ndjson") or text.lstrip().startswith("{"):
        return _collect(_jsonl_rows(text, partner_id))
    return _collect(_csv_rows(text, partner_id))


def event_id_for(envelope: dict[str, Any]) -> str:
    identity = {k: envelope.get(k) for k in ("partner_id", "event_type", "occurred_at", "sme_id", "payload")}
    return str(uuid.uuid5(IMPORT_NAMESPACE, orjson.dumps(identity, option=orjson.OPT_SORT_KEYS).decode()))


def _collect(items: Iterator[Row | RowProblem]) -> tuple[list[Row], list[RowProblem]]:
    rows: list[Row] = []
    problems: list[RowProblem] = []
    for item in items:
        (rows if isinstance(item, Row) else problems).append(item)  # type: ignore[arg-type]
    return rows, problems


def _finish(line: int, envelope: dict[str, Any], partner_id: str) -> Row | RowProblem:
    given = envelope.get("partner_id")
    if given not in (None, "", partner_id):
        return RowProblem(line, "partner_id", f"row of partner {given!r} in an import for {partner_id!r}")
    envelope["partner_id"] = partner_id
    # A row that names no version is a version-1 event (the format's columns): it is upcast into
    # the deployment's default programme like any other.
    envelope.setdefault("schema_version", v1.VERSION)
    if not envelope.get("event_id"):
        envelope["event_id"] = event_id_for(envelope)
    return Row(line, envelope)


def _jsonl_rows(text: str, partner_id: str) -> Iterator[Row | RowProblem]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            envelope = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            yield RowProblem(line, "$", f"not JSON: {error}")
            continue
        if not isinstance(envelope, dict):
            yield RowProblem(line, "$", "each line must be a JSON object")
            continue
        yield _finish(line, envelope, partner_id)


def _csv_rows(text: str, partner_id: str) -> Iterator[Row | RowProblem]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    unknown = sorted(set(columns) - set(ENVELOPE_COLUMNS) - PAYLOAD_COLUMNS)
    if unknown:
        raise UnreadableFile(f"unknown columns: {', '.join(unknown)} (see `crm import --help`)")
    missing = sorted({"event_type", "occurred_at", "sme_id"} - set(columns))
    if missing:
        raise UnreadableFile(f"missing columns: {', '.join(missing)}")
    for record in reader:
        line = reader.line_num
        envelope: dict[str, Any] = {}
        payload: dict[str, Any] = {}
        problem: RowProblem | None = None
        for column, cell in record.items():
            if column is None:
                problem = RowProblem(line, "$", "more cells than columns")
                continue
            value = (cell or "").strip()
            name = column.strip()
            if not value:
                continue
            if name in ENVELOPE_COLUMNS:
                envelope[name] = value
            elif name in _NUMBERS:
                try:
                    payload[name] = float(value)
                except ValueError:
                    problem = RowProblem(line, f"payload.{name}", f"{value!r} is not a number")
            elif name in _LISTS:
                payload[name] = [code.strip() for code in value.split(";") if code.strip()]
            else:
                payload[name] = value
        if problem is not None:
            yield problem
            continue
        envelope["payload"] = payload
        yield _finish(line, envelope, partner_id)
