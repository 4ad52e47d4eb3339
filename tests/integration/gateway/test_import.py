"""`crm import`: a bad file sends nothing; a good one lands in Kafka; re-running adds no new event ids."""

import json
import subprocess
from pathlib import Path

import pytest

from crm.settings import Settings
from tests.support.cli import run_crm
from tests.support.gateway import published

pytestmark = pytest.mark.infra

HEADER = "event_type,occurred_at,sme_id,pilot_id,market,counterpart,note,reason\n"


def crm_import(settings: Settings, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_crm(settings, "import", str(path), "--partner", "tehnopol", *extra)


async def test_import_validates_whole_file_then_sends_and_rerunning_adds_nothing(
    isolated: Settings, tmp_path: Path
) -> None:
    rows = [f"PilotUpdated,2021-0{1 + i % 9}-01T00:00:00Z,sme-{i},p-{i},,,call {i},\n" for i in range(25)]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "".join(rows) + "PilotOpened,2021-01-01T00:00:00Z,sme-x,p-x,ZZ,Somebody,,\n")
    refused = crm_import(isolated, bad)
    assert refused.returncode == 1
    assert f"{bad}:27: payload.market" in refused.stderr
    assert "nothing was sent" in refused.stderr

    good = tmp_path / "good.csv"
    good.write_text(HEADER + "".join(rows))
    first = crm_import(isolated, good, "--batch-size", "10")
    assert first.returncode == 0, first.stderr
    assert "25 events sent" in first.stdout
    after_first = await published(isolated, at_least=25)
    assert crm_import(isolated, good).returncode == 0
    after_second = await published(isolated, at_least=50)

    first_ids = {json.loads(r.value)["event_id"] for r in after_first}
    assert len(first_ids) == 25
    assert {json.loads(r.value)["event_id"] for r in after_second} == first_ids
    assert {r.key for r in after_first} == {f"tehnopol/sme-{i}".encode() for i in range(25)}
