"""What the Docker image runs: the wheel, built from the checkout and installed in a venv of its
own, serves the dashboard and the offline /docs (issue 16: the wheel once left the dashboard
out, and `GET /` answered 503). Built without build isolation, offline: the dev extras bring a
setuptools that reads pyproject.toml (>= 77)."""

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import version
from pathlib import Path

import httpx
from packaging.version import Version

from crm.local.processes import free_port, log_tail, port_accepts, wait_until
from crm.settings import Settings
from tests.support.isolation import isolated_settings
from tests.support.offline_docs import assert_docs_offline

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "services" / "crm" / "query" / "dashboard"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
DATA_FILES = [
    "crm/query/dashboard/index.html",
    "crm/query/dashboard/dashboard.js",
    "crm/query/dashboard/dashboard.css",
    "crm/swagger_ui/swagger-ui-bundle.js",
    "crm/swagger_ui/swagger-ui.css",
    "crm/db/migrations/script.py.mako",
]


def test_the_installed_wheel_serves_the_dashboard_and_docs(infrastructure: Settings, tmp_path: Path) -> None:
    database_url = asyncio.run(isolated_settings(infrastructure)).database_url
    assert database_url
    wheel = _build_wheel(tmp_path)
    assert set(DATA_FILES) <= set(zipfile.ZipFile(wheel).namelist())
    venv = _install(wheel, tmp_path / "venv")

    # Nothing of the checkout on the path: the code is the installed package's.
    env = {name: value for name, value in os.environ.items() if not name.startswith(("CRM_", "PYTHONPATH"))}
    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import crm.query.app; print(crm.query.app.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    port, log = free_port(), tmp_path / "query.log"
    env |= {
        "CRM_DATABASE_URL": database_url,
        "CRM_BIND_HOST": "127.0.0.1",
        "CRM_QUERY_PORT": str(port),
        "CRM_STATE_DIR": str(tmp_path / "state"),
        "CRM_LOG_FORMAT": "json",
    }
    with open(log, "w") as output:
        query = subprocess.Popen(
            [venv / "bin" / "crm", "query", "run"], cwd=tmp_path, env=env, stdout=output, stderr=output
        )
    try:
        started = wait_until(lambda: port_accepts("127.0.0.1", port) or query.poll() is not None, timeout=120)
        assert started and query.poll() is None, log_tail(log)
        asyncio.run(_assert_dashboard_and_docs(f"http://127.0.0.1:{port}"))
    finally:
        query.terminate()
        query.wait(timeout=60)


async def _assert_dashboard_and_docs(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        page = await client.get("/")
        assert page.status_code == 200, page.text[:300]
        assert page.headers["content-type"].startswith("text/html")
        assert page.content == (DASHBOARD / "index.html").read_bytes()
        for name, media_type in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
            asset = await client.get(f"/dashboard/{name}")
            assert asset.status_code == 200, (name, asset.text[:300])
            assert asset.headers["content-type"].startswith(media_type)
            assert asset.content == (DASHBOARD / name).read_bytes()
        await assert_docs_offline(client)


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the checkout (setuptools writes build/ and *.egg-info beside its
    sources; the checkout stays clean)."""
    assert Version(version("setuptools")) >= Version("77"), "pip install -e '.[dev]': the wheel needs setuptools>=77"
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "services", source / "services", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*PIP, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = wheels.glob("smartgrowth_crm-*.whl")
    return wheel


def _install(wheel: Path, venv: Path) -> Path:
    """A venv holding only the wheel; its dependencies are this environment's, reached through a
    .pth file (a plain path: this environment's own .pth files, the editable install of the
    checkout among them, are not read)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [*PIP, "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site_packages, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv
