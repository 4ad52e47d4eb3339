"""Older contract versions at the real gateway: Deprecation and Sunset headers, refusal after the
sunset, and the per-partner count of old-version events (`crm status`), on Kafka and PostgreSQL."""

import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from crm.contract.lifecycle import SUPERSEDED_ON
from crm.gateway.version_usage import read_version_usage
from crm.settings import Settings
from tests.integration.gateway.test_import import HEADER, crm_import
from tests.support.cli import run_crm
from tests.support.events import envelope
from tests.support.gateway import published, running_gateway

pytestmark = pytest.mark.infra

TODAY = datetime.now(UTC).date()


def crm_status(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_crm(settings, "status", *args)


def v2(event_type: str, **overrides: object) -> dict[str, object]:
    return envelope(event_type, schema_version=2, programme_id="default", **overrides)


async def test_an_old_version_is_accepted_with_deprecation_and_counted_once_per_partner(isolated: Settings) -> None:
    async with running_gateway(isolated.model_copy(update={"token_cache_seconds": 0.0})) as gateway:
        old = envelope("SMEWithdrawn", sme_id="old")
        current = await gateway.post(v2("SMEWithdrawn", sme_id="new"))
        first = await gateway.post(old)
        again = await gateway.post(old)  # a retry claims nothing new
        mixed = await gateway.post([v2("SMEWithdrawn", sme_id="new-2"), envelope("SMEWithdrawn", sme_id="old-2")])
        theirs = await gateway.post(
            envelope("SMEWithdrawn", partner_id="sisp", sme_id="theirs"), token=gateway.other_partner_token
        )

    assert [r.status_code for r in (current, first, again, mixed, theirs)] == [202] * 5
    assert "deprecation" not in current.headers and "sunset" not in current.headers
    deprecated_since = datetime.combine(SUPERSEDED_ON[1], datetime.min.time(), tzinfo=UTC)
    for response in (first, again, mixed, theirs):
        assert response.headers["deprecation"] == f"@{int(deprecated_since.timestamp())}"
        assert "sunset" not in response.headers  # no sunset configured
    usage = {(u.partner_id, u.schema_version): u for u in await read_version_usage(isolated)}
    assert {key: u.events for key, u in usage.items()} == {("tehnopol", 1): 2, ("sisp", 1): 1}
    assert usage["tehnopol", 1].first_at <= usage["tehnopol", 1].last_at
    assert usage["tehnopol", 1].sunset is None

    shown = crm_status(isolated, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["old_contract_versions"]
    assert {(r["partner_id"], r["schema_version"], r["events"]) for r in rows} == {("tehnopol", 1, 2), ("sisp", 1, 1)}
    table = crm_status(isolated)
    assert "partners still sending an older contract version" in table.stdout
    assert "tehnopol" in table.stdout and "not set" in table.stdout
    metrics = crm_status(isolated, "--format", "prometheus").stdout
    assert 'crm_gateway_old_version_events_total{partner_id="tehnopol",schema_version="1"} 2.0' in metrics


async def test_before_its_sunset_a_version_carries_the_sunset_and_from_that_day_it_is_refused(
    isolated: Settings,
) -> None:
    tomorrow = TODAY + timedelta(days=1)
    async with running_gateway(isolated.model_copy(update={"contract_sunsets": {1: tomorrow}})) as gateway:
        before = await gateway.post(envelope("SMEWithdrawn", sme_id="before"))
    assert before.status_code == 202
    assert parsedate_to_datetime(before.headers["sunset"]) == datetime.combine(tomorrow, datetime.min.time(), UTC)

    async with running_gateway(isolated.model_copy(update={"contract_sunsets": {1: TODAY}})) as gateway:
        refused = await gateway.post([v2("SMEWithdrawn", sme_id="fine"), envelope("SMEWithdrawn", sme_id="late")])
        current = await gateway.post(v2("SMEWithdrawn", sme_id="current"))

    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "index": 1,
            "field": "schema_version",
            "message": f"schema_version 1 is no longer accepted: its sunset was {TODAY.isoformat()}; "
            "send schema_version 2 (docs/contract.md, Versions)",
        }
    ]
    assert current.status_code == 202
    published_smes = sorted(json.loads(r.value)["sme_id"] for r in await published(isolated, at_least=2))
    assert published_smes == ["before", "current"]  # nothing of the refused request
    counted = {(u.partner_id, u.schema_version): u.events for u in await read_version_usage(isolated)}
    assert counted == {("tehnopol", 1): 1}


def test_a_sunset_for_the_current_or_an_unknown_version_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_CONTRACT_SUNSETS", '{"1": "2027-06-30"}')
    assert Settings().contract_sunsets == {1: date(2027, 6, 30)}
    for wrong in ('{"2": "2027-06-30"}', '{"7": "2027-06-30"}', '{"1": "someday"}'):
        monkeypatch.setenv("CRM_CONTRACT_SUNSETS", wrong)
        with pytest.raises(ValueError, match="contract_sunsets"):
            Settings()


async def test_an_import_of_history_is_neither_refused_by_a_sunset_nor_counted(
    isolated: Settings, tmp_path: Path
) -> None:
    past_sunset = isolated.model_copy(update={"contract_sunsets": {1: TODAY}})
    history = tmp_path / "history.csv"  # rows without schema_version are version 1
    history.write_text(HEADER + "".join(f"SMEWithdrawn,2020-01-0{i + 1}T00:00:00Z,sme-{i},,,,,\n" for i in range(3)))

    imported = crm_import(past_sunset, history)

    assert imported.returncode == 0, imported.stderr
    assert len(await published(isolated, at_least=3)) == 3
    assert await read_version_usage(isolated) == []
