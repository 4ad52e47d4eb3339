"""The wheel carries every file of the package that is not Python: the migrations' template, the
dashboard's page and the Swagger UI files /docs serves (pyproject.toml package-data)."""

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "services" / "crm"


def test_every_data_file_of_the_package_is_in_its_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["crm"]
    data = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    ]
    assert {"query/dashboard/index.html", "swagger_ui/swagger-ui-bundle.js", "swagger_ui/LICENSE"} <= set(data)
    assert [name for name in data if not any(fnmatch.fnmatch(name, glob) for glob in globs)] == []
