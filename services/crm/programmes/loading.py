"""Read a programme definition file (TOML) into a `Programme`, or every problem with its line.

`tomllib` parses but gives no positions, so `key_lines` maps each key of the file to the line it
is on, following `[table]`, `[[array.of.tables]]` (counting their index) and dotted keys; a
problem inside an inline table or array is located at its key's line.
"""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from pydantic import ValidationError

from crm.programmes.definition import DEFER_CONSISTENCY, Path, Programme, consistency_problems, dotted

_TABLE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\")(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"))*)\s*=")


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    path: str
    message: str


class ProgrammeFileError(ValueError):
    """The file is not a valid programme: every problem, located."""

    def __init__(self, file: FilePath, problems: list[Problem]) -> None:
        self.file = file
        self.problems = sorted(problems, key=lambda p: (p.line, p.path))
        super().__init__("\n".join(f"{file}:{p.line}: {p.path}: {p.message}" for p in self.problems))


def _parts(dotted_key: str) -> list[str]:
    return [part.strip().strip('"') for part in re.findall(r'"[^"]*"|[^.]+', dotted_key)]


def key_lines(text: str) -> dict[Path, int]:
    """Every key path of the TOML text (`("periods", 2, "end")`) → its 1-based line."""
    lines: dict[Path, int] = {}
    table: Path = ()
    counts: dict[Path, int] = {}
    depth = 0  # inside a multi-line array or inline table
    for number, line in enumerate(text.splitlines(), start=1):
        code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line).split("#", 1)[0]
        if depth == 0:
            header = _TABLE.match(code)
            if header:
                path: Path = tuple(_parts(header.group(2)))
                if header.group(1) == "[[":
                    lines.setdefault(path, number)
                    index = counts.get(path, -1) + 1
                    counts[path] = index
                    path = (*path, index)
                table = path
                lines.setdefault(table, number)
                continue
            key = _KEY.match(code)
            if key:
                lines.setdefault((*table, *_parts(key.group(1))), number)
        depth = max(0, depth + code.count("[") + code.count("{") - code.count("]") - code.count("}"))
    return lines


def locate(lines: dict[Path, int], path: Path) -> int:
    """The line of `path`, or of its nearest ancestor the file spells out; 1 when none."""
    for end in range(len(path), 0, -1):
        found = lines.get(path[:end])
        if found is not None:
            return found
    return 1


def parse_programme(text: str, file: FilePath) -> Programme:
    """The programme the TOML text defines, or ProgrammeFileError listing every problem."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        raise ProgrammeFileError(file, [Problem(int(match.group(1)) if match else 1, "(file)", str(error))]) from None
    lines = key_lines(text)
    try:
        programme = Programme.model_validate(data, context={DEFER_CONSISTENCY: True})
    except ValidationError as error:
        problems = [
            Problem(locate(lines, tuple(e["loc"])), dotted(tuple(e["loc"])), e["msg"].removeprefix("Value error, "))
            for e in error.errors()
        ]
        raise ProgrammeFileError(file, problems) from None
    located = [Problem(locate(lines, path), dotted(path), message) for path, message in consistency_problems(programme)]
    if located:
        raise ProgrammeFileError(file, located)
    return programme


def load_programme(file: FilePath) -> Programme:
    """`parse_programme` of a file (UTF-8)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ProgrammeFileError(file, [Problem(1, "(file)", f"cannot be read: {error}")]) from None
    return parse_programme(text, file)
