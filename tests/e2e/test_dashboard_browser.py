"""The dashboard in headless Chromium (Debian's package, driven by Playwright) on the scenario data.

The figures on the page must equal the API's. A screenshot is saved under tests/artifacts/.
"""

import asyncio
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from crm.local.services import ServiceProcess, service_environment
from crm.programmes.loading import load_programme
from crm.settings import Settings
from tests.support.gateway import create_token
from tests.support.programmes import apply_programme
from tests.support.query import load_4smartgrowth

pytestmark = pytest.mark.infra

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PROGRAMME = Path(__file__).resolve().parents[2] / "scenario" / "4smartgrowth" / "programme.toml"
OUT_1_TARGET = next(i.target for i in load_programme(PROGRAMME).indicators if i.code == "OUT-1")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until_up(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)


async def open_dashboard(page: Page, base: str, token: str) -> None:
    await page.goto(f"{base}/#token={token}")
    await page.wait_for_selector("body[data-loaded]", timeout=30_000)
    assert await page.get_attribute("body", "data-loaded") == "true", await page.inner_text("#error")


async def texts(page: Page, selector: str, attribute: str) -> dict[str, str]:
    found: dict[str, str] = await page.eval_on_selector_all(
        selector, f"nodes => Object.fromEntries(nodes.map(n => [n.getAttribute('{attribute}'), n.textContent]))"
    )
    return found


async def test_the_dashboard_shows_the_api_figures_in_chromium(isolated: Settings, tmp_path: Path) -> None:
    assert await asyncio.to_thread(CHROMIUM.exists), "no /usr/bin/chromium: `make test` installs it (apt-get)"
    # The replay in its programme, the programme file applied and the deployment's default: the
    # targets shown are the file's.
    await load_4smartgrowth(isolated, "4smartgrowth")
    await apply_programme(isolated, PROGRAMME.read_text())
    settings = isolated.model_copy(update={"query_port": free_port(), "default_programme": "4smartgrowth"})
    _, analyst = await create_token(settings, None)
    _, partner = await create_token(settings, "tehnopol")
    base = f"http://127.0.0.1:{settings.query_port}"
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    with ServiceProcess("query", ["query", "run"], service_environment(settings), tmp_path / "query.log"):
        await until_up(base)
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {analyst}"}) as client:
            kpis = (await client.get("/v1/programme/kpis")).json()
            funnels = {p: (await client.get(f"/v1/partners/{p}/funnel")).json() for p in kpis["partners"]}
            open_pilots: list[dict[str, Any]] = []
            for p in kpis["partners"]:
                open_pilots += (await client.get(f"/v1/partners/{p}/pilots", params={"status": "open"})).json()["items"]
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=str(CHROMIUM),
                args=FLAGS,
                headless=True,
                viewport={"width": 1400, "height": 900},
            )
            try:
                page = await browser.new_page()
                console: list[str] = []
                page.on("console", lambda message: console.append(message.text))
                await open_dashboard(page, base, analyst)

                shown = await texts(page, "[data-kpi]", "data-kpi")
                for name in (
                    "smes_selected",
                    "smes_withdrawn",
                    "smes_in_matchmaking",
                    "pilots_in_discussion",
                    "pilots_stalled",
                ):
                    assert shown[name] == str(kpis[name]), name
                assert shown["matchmaking_markets"] == ", ".join(kpis["matchmaking_markets"])
                targets = await texts(page, "[data-target]", "data-target")
                assert targets == {k: f"{v['actual']} / {v['target']}" for k, v in kpis["progress"].items()}
                assert kpis["progress"]["smes_on_export_missions"]["target"] == OUT_1_TARGET
                for partner_id, funnel in funnels.items():
                    stages = await texts(page, f"[data-testid='funnel-{partner_id}'] [data-stage]", "data-stage")
                    assert stages == {k: str(v) for k, v in funnel["stages"].items()}, partner_id
                rows = await page.eval_on_selector_all(
                    "#pilots tbody tr", "rows => rows.map(r => [r.dataset.pilot, r.className, r.cells[6].textContent])"
                )
                expected_rows = {f"{p['partner_id']}/{p['pilot_id']}": p for p in open_pilots}
                assert {r[0] for r in rows} == set(expected_rows)
                stalled_rows = {r[0]: r[2] for r in rows if r[1] == "stalled"}
                assert stalled_rows == {k: str(p["idle_days"]) for k, p in expected_rows.items() if p["stalled"]}
                assert len(stalled_rows) == kpis["pilots_stalled"]
                assert await page.locator("#agreements tbody tr").count() == sum(kpis["agreements_by_type"].values())
                assert "projector lag: 0 events" in await page.inner_text("#freshness")

                ARTIFACTS.mkdir(exist_ok=True)
                screenshot = ARTIFACTS / "dashboard.png"
                await page.screenshot(path=str(screenshot), full_page=True)
                print(f"\ndashboard screenshot: {screenshot}")

                # As of the end of 2019: the page shows the API's figures for that date.
                await page.fill("#as-of-date", "2019-12-31")
                await page.dispatch_event("#as-of-date", "change")
                async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {analyst}"}) as client:
                    then = (await client.get("/v1/programme/kpis", params={"as_of": "2019-12-31"})).json()
                shown_then = "document.querySelector('[data-kpi=pilots_in_discussion]').textContent"
                await page.wait_for_function(f"{shown_then} === '{then['pilots_in_discussion']}'")
                assert (await texts(page, "[data-kpi]", "data-kpi"))["smes_in_matchmaking"] == str(
                    then["smes_in_matchmaking"]
                )

                # A partner token: its own partner only; the API refuses the rest, in the page too.
                partner_page = await browser.new_page()
                await open_dashboard(partner_page, base, partner)
                assert await partner_page.is_hidden("#kpis-section")
                assert await partner_page.eval_on_selector_all(".funnel", "n => n.map(f => f.dataset.partner)") == [
                    "tehnopol"
                ]
                refused = await partner_page.evaluate(
                    "fetch('/v1/partners/sisp/pilots',"
                    " {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('crm-token')}}).then(r => r.status)"
                )
                assert refused == 403
                bad = await browser.new_page()
                await bad.goto(f"{base}/#token=crm_0123456789abcdef_wrong")
                await bad.wait_for_selector("body[data-loaded=error]")
                assert "401" in await bad.inner_text("#error")
                assert not [line for line in console if "Content Security Policy" in line]
            finally:
                await browser.close()
                shutil.rmtree(profile, ignore_errors=True)
