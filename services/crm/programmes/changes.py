"""What applying a definition changes against the stored one, as lines a person reads. Pure."""

from typing import Any

from crm.programmes.definition import Programme


def _by(items: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {item[key]: item for item in items}


def _fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {before.get(name)} → {after.get(name)}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


def changes(stored: Programme | None, new: Programme) -> list[str]:
    """`+ indicator OUT-3 (pilots_opened, target 40)`, `~ period 2: report_deadline 2019-11-15 →
    2019-11-30`, `- partner x`, `~ order of indicators: OUT-1, OUT-2 → OUT-2, OUT-1`; one line
    for a new programme, none only when the definitions are equal (and so their digests)."""
    after = new.model_dump(mode="json")
    if stored is None:
        return [
            f"+ programme {new.id} ({new.name}): {len(new.partners)} partners, {len(new.periods)} periods, "
            f"{len(new.indicators)} indicators"
        ]
    before = stored.model_dump(mode="json")
    lines = [
        f"~ {line}"
        for line in _fields(
            {k: v for k, v in before.items() if not isinstance(v, list) or k == "markets"},
            {k: v for k, v in after.items() if not isinstance(v, list) or k == "markets"},
        )
    ]
    for section, key, label in (
        ("partners", "id", "partner"),
        ("periods", "number", "period"),
        ("indicators", "code", "indicator"),
    ):
        old, now = _by(before[section], key), _by(after[section], key)
        for name in sorted(set(old) - set(now), key=str):
            lines.append(f"- {label} {name}")
        for name in sorted(set(now) - set(old), key=str):
            lines.append(f"+ {label} {name}{_summary(section, now[name])}")
        for name in sorted(set(old) & set(now), key=str):
            lines += [f"~ {label} {name}: {line}" for line in _fields(old[name], now[name])]
        lines += _order(section, [name for name in old if name in now], [name for name in now if name in old])
    return lines


def _order(section: str, before: list[Any], after: list[Any]) -> list[str]:
    """`~ order of partners: a, b, c → b, a, c` when the items both versions list are in another
    order: the stored definition (and its digest) keeps the file's order, so apply stores it."""
    if before == after:
        return []
    return [f"~ order of {section}: {', '.join(map(str, before))} → {', '.join(map(str, after))}"]


def _summary(section: str, item: dict[str, Any]) -> str:
    if section == "indicators":
        return f" ({item['measure']}, target {item['target']})"
    if section == "periods":
        return f" ({item['start']} to {item['end']}, report due {item['report_deadline']})"
    return f" ({item['legal_name']}, {item['role']})"
