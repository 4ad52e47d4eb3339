"""Programme definitions stored by version on the real PostgreSQL, and `crm programme apply | show`."""

import asyncio
import getpass
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db.engine import create_engine
from crm.programmes.loading import load_programme
from crm.programmes.store import ProgrammeStore
from crm.settings import Settings
from tests.support.cli import run_crm

pytestmark = pytest.mark.infra

SHIPPED = Path(__file__).resolve().parents[2] / "scenario" / "4smartgrowth" / "programme.toml"


@pytest.fixture
async def engine(isolated: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(isolated.database_url)
    yield engine
    await engine.dispose()


def crm(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_crm(settings, "programme", *args)


async def stored_versions(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return list((await connection.scalars(text("SELECT version FROM programme_versions ORDER BY 1"))).all())


async def test_a_new_definition_is_the_next_version_and_the_same_one_changes_nothing(engine: AsyncEngine) -> None:
    store = ProgrammeStore(engine)
    programme = load_programme(SHIPPED)
    first = await store.apply(programme, "ana")
    again = await store.apply(programme, "ana")
    renamed = programme.model_copy(update={"name": "4SmartGrowth, renamed"})
    second = await store.apply(renamed, "ben")

    assert (first.version, first.changed, again.version, again.changed) == (1, True, 1, False)
    assert (second.version, second.changed) == (2, True)
    current = await store.current("4smartgrowth")
    assert current is not None and current.version == 2 and current.programme == renamed
    assert current.applied_by == "ben"
    past = await store.current("4smartgrowth", 1)
    assert past is not None and past.programme == programme
    assert [s.version for s in await store.all_current()] == [2]


async def test_concurrent_applies_take_consecutive_versions_and_none_is_lost(isolated: Settings) -> None:
    # Twelve applies at once on twelve connections: serialised by the advisory lock, each reads the
    # version the one before it stored. (Without the lock they all read the same current version and
    # all but one lose on the primary key, again and again: some run out of attempts.)
    engine = create_engine(isolated.database_url, pool_size=12)
    try:
        store = ProgrammeStore(engine)
        programme = load_programme(SHIPPED)
        variants = [programme.model_copy(update={"name": f"variant {n}"}) for n in range(12)]
        applied = await asyncio.gather(*(store.apply(v, None) for v in variants))
        assert sorted(a.version for a in applied) == list(range(1, 13))
        assert all(a.changed for a in applied)
        for variant, done in zip(variants, applied, strict=True):
            stored = await store.current(programme.id, done.version)
            assert stored is not None and stored.programme == variant

        same = programme.model_copy(update={"name": "the same"})
        again = await asyncio.gather(*(store.apply(same, None) for _ in range(8)))
        assert sorted(a.changed for a in again) == [False] * 7 + [True]
        assert {a.version for a in again} == {13}
        assert await stored_versions(engine) == list(range(1, 14))
    finally:
        await engine.dispose()


async def test_the_cli_refuses_a_broken_file_whole_dry_runs_applies_and_shows(
    isolated: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(
        SHIPPED.read_text(encoding="utf-8")
        .replace('country = "EE"', 'country = "XX"')
        .replace("start = 2020-04-01", 'start = "soon"'),
        encoding="utf-8",
    )
    refused = crm(isolated, "apply", str(broken))
    assert refused.returncode == 1
    assert "2 problem(s); nothing was stored" in refused.stderr
    assert f"{broken}:" in refused.stderr and "partners[1].country" in refused.stderr
    assert "periods[2].start" in refused.stderr

    dry = crm(isolated, "apply", str(SHIPPED), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+ programme 4smartgrowth" in dry.stdout and "dry run: nothing stored" in dry.stderr
    assert await stored_versions(engine) == []

    applied = crm(isolated, "apply", str(SHIPPED))
    assert applied.returncode == 0, applied.stderr
    assert "stored as version 1" in applied.stderr
    assert "unchanged: still version 1" in crm(isolated, "apply", str(SHIPPED)).stderr
    renamed = tmp_path / "renamed.toml"
    renamed.write_text(SHIPPED.read_text(encoding="utf-8").replace('name = "Smart', 'name = "Renamed Smart'), "utf-8")
    by_name = crm(isolated, "apply", str(renamed), "--by", "Ana Tamm")
    assert "stored as version 2" in by_name.stderr, by_name.stderr
    store = ProgrammeStore(engine)
    first, second = await store.current("4smartgrowth", 1), await store.current("4smartgrowth", 2)
    assert first is not None and first.applied_by == getpass.getuser()
    assert second is not None and second.applied_by == "Ana Tamm"

    shown = json.loads(crm(isolated, "show", "4smartgrowth", "--json", "--version", "1").stdout)
    assert shown["version"] == 1 and shown["partners"][0]["legal_name"] == "SISP Swedish Incubators & Science Parks"
    table = crm(isolated, "show", "4smartgrowth").stdout
    assert "Västerås Science Park AB" in table and "smes_in_matchmaking" in table
    assert "4smartgrowth" in crm(isolated, "show").stdout
    missing = crm(isolated, "show", "nope")
    assert missing.returncode == 1 and "no programme nope is stored" in missing.stderr
