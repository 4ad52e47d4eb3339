"""The frozen version-1 log (tests/fixtures/v1_log/) replayed by this release's projector and by
`crm projections rebuild`: the read models must equal those the release that wrote it built."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from crm.contract.decoding import decode_event
from crm.contract.identity import event_key
from crm.settings import Settings
from tests.support.pipeline import projector, wait_until_applied
from tests.support.v1_log import (
    READ_MODELS_FILE,
    fresh_database,
    load_records,
    read_topic,
    rebuild_with_cli,
    snapshot,
    write_records,
)

pytestmark = pytest.mark.infra

RECORDS = load_records()
EXPECTED: dict[str, Any] = json.loads(READ_MODELS_FILE.read_text(encoding="utf-8"))


def test_the_fixture_is_a_version_1_log_with_late_duplicate_and_partner_form_records() -> None:
    keys = []
    for key, value in RECORDS:
        assert json.loads(value)["schema_version"] == 1, value  # as written, not as upcast
        event = decode_event(value)  # this release still reads every record
        assert key == f"{event.partner_id}/{event.sme_id}".encode(), value
        keys.append(event_key(event))
    log = EXPECTED["log"]
    assert (len(RECORDS), len(set(keys)), len(keys) - len(set(keys))) == (
        log["records"],
        log["distinct_events"],
        log["redeliveries"],
    )
    assert sum(log["forms"].values()) == len(RECORDS) and all(log["forms"].values())
    assert len(log["event_types"]) == 8
    assert len(EXPECTED["content_hashes"]) == log["distinct_events"]


async def test_the_v1_log_replayed_and_rebuilt_gives_the_read_models_of_the_release_that_wrote_it(
    isolated: Settings, tmp_path: Path
) -> None:
    await write_records(isolated, RECORDS)
    written = await read_topic(isolated)
    assert Counter(r for records in written.values() for r in records) == Counter(RECORDS), "byte for byte"
    columns = EXPECTED["columns"]  # the release's own columns: later ones may add more
    distinct = EXPECTED["log"]["distinct_events"]

    with projector(isolated, tmp_path / "projector.log"):
        assert await wait_until_applied(isolated, distinct, timeout=60) == distinct
    _assert_same(await snapshot(isolated, columns), "the projector")

    rebuilt_into = await fresh_database(isolated)
    rebuilt = rebuild_with_cli(rebuilt_into)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"{len(RECORDS):,} events read, {distinct:,} applied" in " ".join(rebuilt.stdout.split()), rebuilt.stdout
    _assert_same(await snapshot(rebuilt_into, columns), "crm projections rebuild")


def _assert_same(found: dict[str, Any], by: str) -> None:
    # The release that wrote the log knew no programmes (a later column): every SME of a v1 log
    # is in the default programme, and the rest of its row is as that release built it.
    programmes = {key: row.pop("programme_id") for key, row in found["models"]["smes"].items()}
    assert programmes and set(programmes.values()) == {"default"}, f"{by}: programmes of v1 SMEs {programmes}"
    for table, rows in EXPECTED["models"].items():
        assert found["models"][table] == rows, f"{by}: read model {table} differs from the v1 release's"
    for table, rows in EXPECTED["tables"].items():
        assert found["tables"][table] == rows, f"{by}: rows of {table} differ from the v1 release's"
    # A live database keeps the v1 hashes in applied_events (and the gateway's accepted_events):
    # if a v1 event hashed otherwise now, its next redelivery would be parked as a reused id.
    assert found["content_hashes"] == EXPECTED["content_hashes"], f"{by}: the content hash of a v1 event changed"
