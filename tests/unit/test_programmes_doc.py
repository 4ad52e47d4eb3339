"""docs/programmes.md says what the code does: its example is a valid file using every field, its
tables name every field of the models, every measure of the catalogue with its filters, every
option of the commands and every column of the table; its problem lines are the loader's."""

import re
import tomllib
from pathlib import Path

import typer
from pydantic import BaseModel

from crm.cli.programmes import programme_app
from crm.db.tables import programme_versions
from crm.programmes.definition import Indicator, Measure, Partner, Period, Programme
from crm.programmes.loading import ProgrammeFileError, parse_programme
from crm.programmes.measures import MEASURES

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "programmes.md").read_text(encoding="utf-8")
SHIPPED = ROOT / "scenario" / "4smartgrowth" / "programme.toml"

MODELS: dict[str, type[BaseModel]] = {
    "The programme (top level)": Programme,
    "`[[partners]]`": Partner,
    "`[[periods]]`": Period,
    "`[[indicators]]`": Indicator,
}


def section(title: str) -> str:
    """The text under the heading `title`, up to the next heading of its level or above."""
    heading = re.search(rf"^(#+) {re.escape(title)}$", DOC, re.M)
    assert heading, title
    body = DOC[heading.end() :]
    end = re.search(rf"^#{{1,{len(heading[1])}}} ", body, re.M)
    return body[: end.start()] if end else body


def first_column(text: str) -> set[str]:
    """The `names` in the first cell of each row of the tables in `text` (headers excluded)."""
    rows = re.findall(r"^\| ([^|]+) \|", text, re.M)
    return {name for row in rows for name in re.findall(r"`([a-z_]+)`", row)}


def rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| `")
    ]


def example() -> str:
    found = re.search(r"```toml\n(.*?)```", section("A short example"), re.S)
    assert found
    return found[1]


def test_the_example_is_a_valid_file_using_every_field() -> None:
    programme = parse_programme(example(), Path("docs/programmes.md"))
    data = tomllib.loads(example())
    assert set(data) == set(Programme.model_fields)
    for key, model in (("partners", Partner), ("periods", Period), ("indicators", Indicator)):
        assert {field for item in data[key] for field in item} == set(model.model_fields), key
    assert programme.indicators[1].market in programme.markets


def test_every_field_of_the_models_is_in_its_table() -> None:
    for title, model in MODELS.items():
        assert first_column(section(title)) == set(model.model_fields), title


def test_every_measure_of_the_catalogue_with_its_filters() -> None:
    table = {row[0].strip("`"): row for row in rows(section("Measures"))}
    assert list(table) == [measure.value for measure in Measure] == list(MEASURES)
    for name, query in MEASURES.items():
        filters = ", ".join(f"`{f}`" for f in sorted(query.filters)) or "none"
        assert table[name][3] == filters, name
        # A stock is counted at the end of each period whatever the indicator's mode, and says so.
        assert ("whatever the mode" in table[name][1]) == query.stock, name


def test_the_problem_lines_are_the_loaders() -> None:
    block = re.search(r"```\n(programme\.toml:.*?)```", section("Problems"), re.S)
    assert block
    broken = (
        SHIPPED.read_text(encoding="utf-8")
        .replace('country = "EE"', 'country = "XX"')
        .replace("start = 2020-04-01", 'start = "soon"')
    )
    try:
        parse_programme(broken, Path("programme.toml"))
    except ProgrammeFileError as error:
        assert block[1].splitlines() == str(error).splitlines()
    else:
        raise AssertionError("the broken file parsed")


def test_every_option_of_the_commands_is_documented() -> None:
    commands = section("Commands")
    group = typer.main.get_group(programme_app)
    for name, command in group.commands.items():
        assert f"`crm programme {name}" in commands, name
        for parameter in command.params:
            for option in parameter.opts:
                if option.startswith("--"):
                    assert option in commands, f"crm programme {name} {option}"


def test_the_storage_table_names_every_column() -> None:
    assert first_column(section("Storage")) == set(programme_versions.columns.keys())
