"""docs/reports.md lists exactly the report endpoints the query API serves and the `crm report`
commands the CLI has, and every field of a report's indicators."""

import re
from pathlib import Path

from typer.main import get_command

from crm.cli.main import app
from crm.query.bootstrap import build_query_app
from crm.settings import Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


def test_every_report_endpoint_is_documented_and_every_documented_one_exists() -> None:
    paths = build_query_app(Settings(database_url="postgresql+asyncpg://u@localhost/x")).openapi()["paths"]
    served = {
        (method.upper(), path) for path, operations in paths.items() if "/reports" in path for method in operations
    }
    documented = {
        (method, re.sub(r"\{N\}", "{period}", path.split("[")[0].split("?")[0]))
        for method, path in re.findall(
            r"`(GET|POST) (/v1/programmes/\{id\}/reports[^` ]*)`", _section("Commands and endpoints")
        )
    }
    documented = {(m, p.replace("{id}", "{programme_id}")) for m, p in documented}
    assert documented == served


def test_every_report_command_is_documented() -> None:
    group = get_command(app).commands["report"]  # type: ignore[attr-defined]
    documented = set(re.findall(r"`crm report ([a-z]+)", _section("Commands and endpoints")))
    assert documented == set(group.commands)


def test_every_indicator_figure_is_documented() -> None:
    from crm.reports.content import FIGURES

    table = _section("Contents")
    for field in (*FIGURES, "target", "milestone", "previously_reported", "by_partner"):
        assert f"`{field}`" in table, field
