"""Is a new JSON Schema backward compatible with an old one? Pure logic, no I/O.

"Backward" is the Confluent Schema Registry sense: a consumer that validates with `new` must
accept every message that was valid under `old`, so consumers can be upgraded before producers
and old events in the log stay readable. `breaking_changes` lists, field by field, the ways in
which `new` may refuse something `old` accepted:

* a removed property (when `new` does not accept it as an additional property either);
* a narrowed type or value set: a type dropped (`null` of an optional, `number` to `integer`),
  enum values removed, a const changed, an enum or const added;
* tightened bounds: `minLength`/`maxLength`, `minimum`/`maximum`/`exclusive*`, `multipleOf`,
  `minItems`/`maxItems`, `minProperties`/`maxProperties`, `uniqueItems` added;
* a `pattern` or `format` added or changed; additional properties closed or narrowed;
* a new required property (or an optional one made required), unless its dotted path is in
  `supplied`: an upcaster gives every old event a value for it. The upcaster writes a supplied
  field, so no old value of it reaches a `new` reader and nothing at or below a supplied path is
  reported either (the envelope's `schema_version` const going from 1 to 2, say).

Widening (a longer maxLength, a new enum value, a new optional property, a type added, a
required property made optional) is fine. Every message starts with the dotted field path
(`payload.name: maxLength narrowed from 200 to 100`; items of an array are `field[]`,
additional properties `field.*`, the document itself `$`).

The schemas are self-contained draft 2020-12 documents as pydantic generates them: `$ref` to
`#/...` JSON pointers (usually `#/$defs/...`, resolved; recursive models are fine), `anyOf`
(optionals and unions: every old alternative must be accepted by one new alternative), `allOf`
and `$ref` siblings (merged when they do not conflict), `oneOf` (read as `anyOf`, which holds for
pydantic's discriminated unions, whose alternatives cannot overlap), `type` lists and boolean
schemas. The checker is conservative: whatever it cannot prove safe is reported. A change of any
other keyword (`not`, `if`, `patternProperties`, `prefixItems`, `dependentRequired`, ...), an
unresolvable `$ref`, or a combination it cannot merge is reported as possibly breaking, and an
old enum or const is checked value by value against the new constraints (so an enum of country
codes replaced by an equivalent pattern passes). It does not check that a value supplied by an
upcaster is valid under `new` (nor that the upcaster exists), and an old alternative accepted
only by a union of several new alternatives is reported although it is fine.
"""

import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor
from typing import Any
from urllib.parse import unquote

# Keywords that never change which instances are valid (or, for `$defs`, are only reached
# through `$ref`). `discriminator` is pydantic's OpenAPI hint beside a `oneOf`.
_IGNORED = frozenset(
    {
        "$schema",
        "$id",
        "$defs",
        "definitions",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "discriminator",
    }
)
_COMPOSITION = frozenset({"$ref", "allOf", "anyOf", "oneOf"})
_STRING = ("minLength", "maxLength", "pattern", "format")
_NUMBER = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_ARRAY = ("items", "minItems", "maxItems", "uniqueItems")
_OBJECT = ("properties", "required", "additionalProperties", "minProperties", "maxProperties")
_UNDERSTOOD = frozenset({"type", "enum", "const", *_STRING, *_NUMBER, *_ARRAY, *_OBJECT})
_MAX_DEPTH = 64
_LISTED_VALUES = 10


def breaking_changes(old: dict[str, Any], new: dict[str, Any], *, supplied: frozenset[str] = frozenset()) -> list[str]:
    """Why a consumer using `new` could refuse an instance valid under `old`; empty when none."""
    return _Comparison(old, new, supplied).compare(old, new, "", 0)


def compare_versions(
    old_files: Mapping[str, dict[str, Any]],
    new_files: Mapping[str, dict[str, Any]],
    supplied_by_type: Mapping[str, frozenset[str]],
) -> list[str]:
    """Breaking changes between two versions' per-event-type schemas.

    The keys are file names (`PilotOpened.json`) or event types; `supplied_by_type` is keyed by
    event type (`PilotOpened`). A removed event type is breaking; a new one is not. Each message
    starts with the event type.
    """
    problems = []
    for name in sorted(old_files):
        event_type = name.removesuffix(".json")
        if name not in new_files:
            problems.append(f"{event_type}: event type removed")
            continue
        supplied = supplied_by_type.get(event_type, frozenset())
        changes = breaking_changes(old_files[name], new_files[name], supplied=supplied)
        problems.extend(f"{event_type}: {change}" for change in changes)
    return problems


class _Unanalysable(Exception):
    """A schema the checker cannot reduce to alternatives it understands."""


@dataclass(frozen=True)
class _Branch:
    """One alternative of a schema: no `$ref`/`anyOf`/`oneOf`/`allOf`, at most one `type`."""

    schema: dict[str, Any]
    refs: frozenset[str]

    @property
    def type(self) -> str | None:
        value = self.schema.get("type")
        return value if isinstance(value, str) else None


class _Comparison:
    def __init__(self, old_root: Any, new_root: Any, supplied: frozenset[str]) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.supplied = supplied
        # Pairs of `$ref` sets being compared further up: meeting one again (a recursive model)
        # adds nothing, so it is taken as compatible (the usual co-inductive reading).
        self.active: set[tuple[frozenset[str], frozenset[str]]] = set()

    def compare(self, old: Any, new: Any, path: str, depth: int) -> list[str]:
        if path in self.supplied or old is False or _accepts_anything(new):
            return []
        if not _has_ref(old) and not _has_ref(new) and _canonical(old) == _canonical(new):
            return []
        if depth > _MAX_DEPTH:
            return [f"{_shown(path)}: nested more than {_MAX_DEPTH} levels deep; not compared (possibly breaking)"]
        try:
            old_branches = _branches(old, self.old_root, frozenset())
            new_branches = _branches(new, self.new_root, frozenset())
        except _Unanalysable as reason:
            if _canonical(old) == _canonical(new) and not _has_ref(old):
                return []
            return [f"{_shown(path)}: {reason} (possibly breaking)"]
        problems = []
        for branch in old_branches:
            problems.extend(self._cover(branch, new_branches, path, depth))
        return problems

    def _cover(self, old: _Branch, new: list[_Branch], path: str, depth: int) -> list[str]:
        candidates = [branch for branch in new if _type_accepts(branch.type, old.type)]
        if not candidates:
            if not new:
                return [f"{_shown(path)}: no value is accepted any more"]
            if old.type is None:
                accepted = sorted({branch.type or "any" for branch in new})
                return [f"{_shown(path)}: type narrowed from any type to {', '.join(accepted)}"]
            return [f"{_shown(path)}: type narrowed: {old.type} no longer accepted"]
        best: list[str] | None = None
        for candidate in candidates:
            key = (old.refs, candidate.refs)
            if old.refs and candidate.refs and key in self.active:
                return []
            self.active.add(key)
            try:
                problems = self._compare_branch(old.schema, candidate.schema, old.type, path, depth)
            finally:
                self.active.discard(key)
            if not problems:
                return []
            if best is None or len(problems) < len(best):
                best = problems
        return best or []

    def _compare_branch(
        self, old: dict[str, Any], new: dict[str, Any], kind: str | None, path: str, depth: int
    ) -> list[str]:
        problems = []
        values = _finite_values(old, kind)
        if values is not None and all(_is_scalar(value) for value in values):
            problems.extend(_check_values(values, old, new, path))
        else:
            problems.extend(_value_set_narrowing(old, new, path))
            if kind in (None, "string"):
                problems.extend(_string_narrowing(old, new, path))
            if kind in (None, "integer", "number"):
                problems.extend(_number_narrowing(old, new, kind, path))
        if kind in (None, "array"):
            problems.extend(self._array_narrowing(old, new, path, depth))
        if kind in (None, "object"):
            problems.extend(self._object_narrowing(old, new, path, depth))
        for keyword in sorted((old.keys() | new.keys()) - _IGNORED - _UNDERSTOOD):
            if keyword not in old or keyword not in new or _canonical(old[keyword]) != _canonical(new[keyword]):
                problems.append(
                    f"{_shown(path)}: '{keyword}' changed, a keyword the checker does not understand"
                    " (possibly breaking)"
                )
        return problems

    def _array_narrowing(self, old: dict[str, Any], new: dict[str, Any], path: str, depth: int) -> list[str]:
        problems = self.compare(old.get("items", True), new.get("items", True), f"{path}[]", depth + 1)
        problems.extend(_count_bounds(old, new, "minItems", "maxItems", path))
        if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
            problems.append(f"{_shown(path)}: uniqueItems added")
        return problems

    def _object_narrowing(self, old: dict[str, Any], new: dict[str, Any], path: str, depth: int) -> list[str]:
        problems: list[str] = []
        old_properties: dict[str, Any] = old.get("properties", {})
        new_properties: dict[str, Any] = new.get("properties", {})
        old_additional = old.get("additionalProperties", True)
        new_additional = new.get("additionalProperties", True)
        for name, schema in old_properties.items():
            child = _child(path, name)
            if name in new_properties:
                problems.extend(self.compare(schema, new_properties[name], child, depth + 1))
            elif new_additional is False:
                problems.append(f"{child}: property removed")
            else:
                problems.extend(self.compare(schema, new_additional, child, depth + 1))
        if old_additional is not False:
            for name, schema in new_properties.items():
                if name not in old_properties:
                    problems.extend(self.compare(old_additional, schema, _child(path, name), depth + 1))
            if new_additional is False:
                problems.append(f"{_shown(path)}: additional properties no longer accepted")
            else:
                problems.extend(self.compare(old_additional, new_additional, _child(path, "*"), depth + 1))
        old_required = set(old.get("required", ()))
        for name in new.get("required", ()):
            child = _child(path, name)
            if name in old_required or child in self.supplied:
                continue
            if name in old_properties:
                problems.append(f"{child}: optional property made required")
            else:
                problems.append(f"{child}: new required property")
        problems.extend(_count_bounds(old, new, "minProperties", "maxProperties", path))
        return problems


# --- reducing a schema to alternatives -------------------------------------------------------


def _branches(node: Any, root: Any, refs: frozenset[str]) -> list[_Branch]:
    if node is True:
        return [_Branch({}, refs)]
    if node is False:
        return []
    if not isinstance(node, dict):
        raise _Unanalysable(f"not a schema: {_canonical(node)[:60]}")
    rest = {key: value for key, value in node.items() if key not in _COMPOSITION}
    result = _split_by_type(rest, refs)
    if "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or ref in refs:
            raise _Unanalysable(f"$ref {ref!r} refers to itself")
        result = _conjunction(result, _branches(_resolve(root, ref), root, refs | {ref}))
    for part in node.get("allOf", ()):
        result = _conjunction(result, _branches(part, root, refs))
    for keyword in ("anyOf", "oneOf"):
        if keyword in node:
            alternatives = [branch for part in node[keyword] for branch in _branches(part, root, refs)]
            result = _conjunction(result, alternatives)
    return result


def _split_by_type(schema: dict[str, Any], refs: frozenset[str]) -> list[_Branch]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [_Branch(schema | {"type": one}, refs) for one in dict.fromkeys(kind)]
    if kind is None and ("enum" in schema or "const" in schema):
        values = [schema["const"]] if "const" in schema else list(schema["enum"])
        by_type: dict[str, list[Any]] = {}
        for value in values:
            by_type.setdefault(_json_type(value), []).append(value)
        without = {key: value for key, value in schema.items() if key not in ("enum", "const")}
        return [_Branch(without | {"type": one, "enum": group}, refs) for one, group in by_type.items()]
    return [_Branch(schema, refs)]


def _conjunction(left: list[_Branch], right: list[_Branch]) -> list[_Branch]:
    result = []
    for a in left:
        for b in right:
            merged = _merge(a.schema, b.schema)
            if merged is not None:
                result.append(_Branch(merged, a.refs | b.refs))
    return result


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """Both schemas at once, or None when no instance can satisfy both (different types)."""
    merged = dict(a)
    for key, value in b.items():
        if key not in merged or key in _IGNORED or _canonical(merged[key]) == _canonical(value):
            merged.setdefault(key, value)
        elif key == "type":
            pair = {merged[key], value}
            if pair == {"integer", "number"}:
                merged[key] = "integer"
            else:
                return None
        elif key == "required":
            merged[key] = list(dict.fromkeys([*merged[key], *value]))
        else:
            raise _Unanalysable(f"'{key}' appears in two combined schemas (allOf or $ref siblings)")
    return merged


def _resolve(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        raise _Unanalysable(f"$ref {ref!r} points outside the document")
    target = root
    pointer = unquote(ref[1:])
    for part in pointer.split("/")[1:] if pointer else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            raise _Unanalysable(f"$ref {ref!r} does not resolve")
    return target


def _type_accepts(new: str | None, old: str | None) -> bool:
    if new is None:
        return True
    return new == old or (new == "number" and old == "integer")


# --- value sets and scalar keywords ----------------------------------------------------------


def _finite_values(schema: dict[str, Any], kind: str | None) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    if kind == "boolean":
        return [False, True]
    if kind == "null":
        return [None]
    return None


def _check_values(values: list[Any], old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
    """An old finite value set (enum, const, boolean, null) against everything `new` requires."""
    problems = _value_set_narrowing(old, new, path, values)
    allowed = _finite_values(new, None)
    kept = values if allowed is None else [value for value in values if _key(value) in set(map(_key, allowed))]
    refused: dict[str, list[Any]] = {}
    for value in kept:
        for reason in _scalar_refusals(value, old, new):
            refused.setdefault(reason, []).append(value)
    for reason, refused_values in refused.items():
        problems.append(f"{_shown(path)}: {reason}, so {_listed(refused_values)} no longer accepted")
    return problems


def _value_set_narrowing(
    old: dict[str, Any], new: dict[str, Any], path: str, old_values: list[Any] | None = None
) -> list[str]:
    allowed = _finite_values(new, None)
    if allowed is None:
        return []
    if old_values is None:
        old_values = _finite_values(old, None)
    if old_values is None:
        added = f"const {_shown_value(new['const'])}" if "const" in new else "enum"
        return [f"{_shown(path)}: {added} added where any value was accepted"]
    allowed_keys = {_key(value) for value in allowed}
    removed = [value for value in old_values if _key(value) not in allowed_keys]
    if not removed:
        return []
    if "const" in old and "const" in new:
        return [f"{_shown(path)}: const changed from {_shown_value(old['const'])} to {_shown_value(new['const'])}"]
    if "const" in new:
        return [f"{_shown(path)}: narrowed to const {_shown_value(new['const'])}, {_listed(removed)} removed"]
    return [f"{_shown(path)}: enum values removed: {_listed(removed)}"]


def _scalar_refusals(value: Any, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    reasons = []
    if isinstance(value, str):
        if "minLength" in new and len(value) < new["minLength"]:
            reasons.append(f"minLength {new['minLength']}")
        if "maxLength" in new and len(value) > new["maxLength"]:
            reasons.append(f"maxLength {new['maxLength']}")
        if "pattern" in new and new["pattern"] != old.get("pattern"):
            try:
                if not re.search(new["pattern"], value):
                    reasons.append(f"pattern {new['pattern']!r}")
            except re.error:
                reasons.append(f"pattern {new['pattern']!r} (not evaluable here)")
        if "format" in new and new["format"] != old.get("format"):
            reasons.append(f"format {new['format']!r} (not evaluable here)")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = Fraction(str(value)) if isinstance(value, float) else Fraction(value)
        for keyword, fails in _NUMBER_REFUSALS:
            if _is_number(new.get(keyword)) and fails(number, _fraction(new[keyword])):
                reasons.append(f"{keyword} {_shown_value(new[keyword])}")
    return reasons


_NUMBER_REFUSALS: tuple[tuple[str, Callable[[Fraction, Fraction], bool]], ...] = (
    ("minimum", operator.lt),
    ("exclusiveMinimum", operator.le),
    ("maximum", operator.gt),
    ("exclusiveMaximum", operator.ge),
    ("multipleOf", lambda number, step: (number / step).denominator != 1),
)


def _string_narrowing(old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
    problems = _count_bounds(old, new, "minLength", "maxLength", path)
    for keyword in ("pattern", "format"):
        if keyword not in new or old.get(keyword) == new[keyword]:
            continue
        if keyword in old:
            problems.append(
                f"{_shown(path)}: {keyword} changed from {_shown_value(old[keyword])} to {_shown_value(new[keyword])}"
            )
        else:
            problems.append(f"{_shown(path)}: {keyword} {_shown_value(new[keyword])} added")
    return problems


def _count_bounds(old: dict[str, Any], new: dict[str, Any], lower: str, upper: str, path: str) -> list[str]:
    problems = []
    tighter: Callable[[int, int], bool]
    for keyword, tighter in ((lower, operator.lt), (upper, operator.gt)):
        if keyword not in new:
            continue
        if keyword not in old:
            if keyword != lower or new[keyword] > 0:
                problems.append(f"{_shown(path)}: {keyword} {new[keyword]} added")
        elif tighter(old[keyword], new[keyword]):
            problems.append(f"{_shown(path)}: {keyword} narrowed from {old[keyword]} to {new[keyword]}")
    return problems


def _number_narrowing(old: dict[str, Any], new: dict[str, Any], kind: str | None, path: str) -> list[str]:
    problems = []
    integer = kind == "integer"
    for side, inclusive, exclusive in (
        ("lower", "minimum", "exclusiveMinimum"),
        ("upper", "maximum", "exclusiveMaximum"),
    ):
        old_bound = _bound(old, inclusive, exclusive, side, integer)
        new_bound = _bound(new, inclusive, exclusive, side, integer)
        if new_bound is None:
            continue
        if old_bound is not None:
            (old_value, old_strict), (new_value, new_strict) = old_bound, new_bound
            further = new_value > old_value if side == "lower" else new_value < old_value
            if not further and not (new_value == old_value and new_strict and not old_strict):
                continue
        problems.append(f"{_shown(path)}: {_bound_change(old, new, inclusive, exclusive, side)}")
    if _is_number(new.get("multipleOf")):
        step = _fraction(new["multipleOf"])
        if not _is_number(old.get("multipleOf")):
            problems.append(f"{_shown(path)}: multipleOf {_shown_value(new['multipleOf'])} added")
        elif (_fraction(old["multipleOf"]) / step).denominator != 1:
            problems.append(
                f"{_shown(path)}: multipleOf changed from {_shown_value(old['multipleOf'])} "
                f"to {_shown_value(new['multipleOf'])}"
            )
    return problems


def _bound(
    schema: dict[str, Any], inclusive: str, exclusive: str, side: str, integer: bool
) -> tuple[Fraction, bool] | None:
    """The tightest bound on one side as (value, strict); for integers, as an inclusive integer."""
    found: list[tuple[Fraction, bool]] = []
    if _is_number(schema.get(inclusive)):
        found.append((_fraction(schema[inclusive]), False))
    if _is_number(schema.get(exclusive)):
        found.append((_fraction(schema[exclusive]), True))
    if not found:
        return None
    if integer:
        if side == "lower":
            found = [(Fraction(floor(value) + 1 if strict else ceil(value)), False) for value, strict in found]
        else:
            found = [(Fraction(ceil(value) - 1 if strict else floor(value)), False) for value, strict in found]
    if side == "lower":
        return max(found, key=lambda bound: (bound[0], bound[1]))
    return min(found, key=lambda bound: (bound[0], not bound[1]))


def _bound_change(old: dict[str, Any], new: dict[str, Any], inclusive: str, exclusive: str, side: str) -> str:
    def written(schema: dict[str, Any]) -> str:
        return " and ".join(
            f"{keyword} {_shown_value(schema[keyword])}" for keyword in (inclusive, exclusive) if keyword in schema
        )

    old_keywords = [keyword for keyword in (inclusive, exclusive) if _is_number(old.get(keyword))]
    new_keywords = [keyword for keyword in (inclusive, exclusive) if _is_number(new.get(keyword))]
    if not old_keywords:
        return f"{written(new)} added"
    if len(old_keywords) == len(new_keywords) == 1 and old_keywords == new_keywords:
        keyword = old_keywords[0]
        return f"{keyword} narrowed from {_shown_value(old[keyword])} to {_shown_value(new[keyword])}"
    return f"{side} bound narrowed from {written(old)} to {written(new)}"


# --- small helpers ---------------------------------------------------------------------------


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _shown(path: str) -> str:
    return path or "$"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)


def _shown_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def _listed(values: Iterable[Any]) -> str:
    values = list(values)
    shown = ", ".join(_shown_value(value) for value in values[:_LISTED_VALUES])
    if len(values) > _LISTED_VALUES:
        shown += f" and {len(values) - _LISTED_VALUES} more"
    return shown


def _key(value: Any) -> tuple[str, Any]:
    """Equality as JSON Schema has it: 1 == 1.0, but true is not 1."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    return ("json", _canonical(value))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fraction(value: int | float) -> Fraction:
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def _accepts_anything(schema: Any) -> bool:
    return schema is True or (isinstance(schema, dict) and not schema.keys() - _IGNORED)


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_ref(value) for value in node)
    return False
