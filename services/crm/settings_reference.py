"""docs/configuration.md, generated from the settings' groups and field descriptions.

`python -m crm.settings_reference` writes it (or another path given as its argument);
tests/unit/test_configuration_doc.py fails when the checked-in page is not what `render()` gives.
"""

import re
import sys
import types
import typing
from datetime import date
from pathlib import Path
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, SecretStr, StringConstraints
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from crm.settings import GROUPS, Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

OUTSIDE_SETTINGS = {
    "CRM_POSTGRES_BINDIR": "Directory of `initdb` and `postgres` when they are not in `/usr/lib/postgresql/*/bin` "
    "or on the PATH. Read by the embedded PostgreSQL's launcher (crm/local/postgres_server.py).",
    "CRM_PDF_FONT_DIR": "Directory of the DejaVu Sans fonts (`DejaVuSans.ttf`, `DejaVuSans-Bold.ttf`) of the PDF "
    "report export; unset: the usual system font folders. Read by crm/reports/exports/pdf.py.",
}
"""Variables read where they are used, not through `Settings`: each concerns finding files on this
machine, not how the pipeline behaves."""

INTRO = """\
# Configuration

<!-- Generated from services/crm/settings.py by `python -m crm.settings_reference`; edit the field
descriptions there, not this page. -->

Every setting is an environment variable `CRM_<NAME>`, read once by `crm.settings.Settings`
(pydantic-settings) when a command or service starts; an invalid value stops it with the
variable's name and the reason. Mappings are written as JSON. The groups below are those of
crm/settings.py; each service takes from them only what it reads (`GatewaySettings`,
`QuerySettings`, `ProjectorSettings`, `AlertsSettings` there). `crm up` hands every setting to
the services it starts, but `CRM_DATABASE_ADMIN_URL`.
"""


def render() -> str:
    """The whole page, Markdown."""
    parts = [INTRO]
    for group in GROUPS:
        title, _, about = (group.__doc__ or "").partition(". ")
        parts.append(f"## {title.strip().rstrip('.')}\n")
        if about.strip():
            parts.append(" ".join(about.split()) + "\n")
        parts.append("| variable | type | default | allowed | meaning |\n|---|---|---|---|---|")
        parts.extend(_row(name, Settings.model_fields[name]) for name in group.model_fields)
        parts.append("")
    parts.append("## Read outside the settings object\n")
    parts.append("| variable | meaning |\n|---|---|")
    parts.extend(f"| `{name}` | {meaning} |" for name, meaning in OUTSIDE_SETTINGS.items())
    return _linked("\n".join(parts) + "\n")


def _linked(page: str) -> str:
    """Mentions of another page (docs/contract.md, docs/contract.md "Kafka" for a section) and of a
    module (crm/http_concurrency.py) as links."""
    page = re.sub(
        r'(?<![\w/\[])docs/([a-z-]+\.md) "([^"]+)"',
        lambda m: f'[{m[1]} "{m[2]}"]({m[1]}#{re.sub(r"[^a-z0-9 -]", "", m[2].lower()).replace(" ", "-")})',
        page,
    )
    page = re.sub(r"(?<![\w/\[])docs/([a-z-]+\.md)", r"[\1](\1)", page)
    return re.sub(r"(?<![\w/\[])crm/([\w/]+\.py)", r"[crm/\1](../services/crm/\1)", page)


def _row(name: str, field: FieldInfo) -> str:
    if not field.description:
        raise ValueError(f"Settings.{name} has no description")
    cells = [f"`CRM_{name.upper()}`", _type(field.annotation), _default(field), _allowed(field), field.description]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(arg) for arg in args if arg is not type(None)) + ", optional"
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in args)
    if origin is dict:
        return f"JSON object of {_type(args[0])} to {_type(args[1])}"
    names = {
        str: "string",
        SecretStr: "string, secret",
        int: "integer",
        float: "number",
        Path: "path",
        date: "date (YYYY-MM-DD)",
        bool: "boolean",
    }
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "{" + ", ".join(f"{name}?" for name in annotation.model_fields) + "}"
    return names[annotation]


def _default(field: FieldInfo) -> str:
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return "unset"
    if value == {}:
        return "`{}`"
    return f"`{value}`"


_BOUNDS = {Ge: ">=", Gt: ">", Le: "<=", Lt: "<"}


def _allowed(field: FieldInfo) -> str:
    allowed = []
    for constraint in field.metadata:
        if isinstance(constraint, Ge | Gt | Le | Lt):
            sign, value = _BOUNDS[type(constraint)], getattr(constraint, type(constraint).__name__.lower())
            allowed.append(f"{sign} {value}")
        elif isinstance(constraint, StringConstraints):
            if constraint.min_length is not None or constraint.max_length is not None:
                allowed.append(f"{constraint.min_length or 0}-{constraint.max_length} characters")
            if constraint.pattern is not None:
                allowed.append(f"matching `{constraint.pattern}`")
    return ", ".join(allowed)


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else DOC
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
