"""docs/cli.md is what `crm.cli.reference` renders from the Typer app, and every listing command
offers `--json`."""

import typer

from crm.cli.main import app
from crm.cli.reference import docs_path, render

LISTINGS = [
    ("tokens", "list"),
    ("alerts", "list"),
    ("dlq", "list"),
    ("programme", "show"),
    ("report", "status"),
    ("report", "restatements"),
    ("status",),
]


def test_docs_cli_md_is_up_to_date() -> None:
    assert docs_path().read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `python -m crm.cli.reference --write`"
    )


def test_every_command_and_option_is_documented() -> None:
    text = render()
    root = typer.main.get_command(app)
    for group in ("tokens", "report", "alerts", "sql", "dlq"):
        for name, command in root.commands[group].commands.items():  # type: ignore[attr-defined]
            assert f"### `crm {group} {name}`" in text
            for param in command.params:
                assert (param.name.upper() if param.param_type_name == "argument" else param.opts[0]) in text
    for code in ("| 0 | done", "| 1 | failed", "| 2 | usage", "| 3 | infrastructure"):
        assert code in text


def test_every_listing_command_has_json() -> None:
    root = typer.main.get_command(app)
    for path in LISTINGS:
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        assert any("--json" in p.opts for p in command.params), f"crm {' '.join(path)} has no --json"
