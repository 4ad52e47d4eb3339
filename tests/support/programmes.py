"""Programme definitions for tests: a minimal valid file of given partners, stored as `crm programme apply` does."""

from pathlib import Path

from crm.db.engine import create_engine
from crm.programmes.loading import parse_programme
from crm.programmes.store import Applied, ProgrammeStore
from crm.settings import Settings


def programme_file(programme_id: str, partners: list[str], indicators: str = "") -> str:
    """A valid programme file: `partners` (the first one the lead), one period, the given
    `[[indicators]]` tables."""
    tables = "".join(
        f'[[partners]]\nid = "{partner}"\nlegal_name = "{partner}"\nshort_name = "{partner}"\ncountry = "EE"\n'
        + ('role = "lead"\n' if n == 0 else "")
        for n, partner in enumerate(partners)
    )
    return (
        f'id = "{programme_id}"\nname = "Programme {programme_id}"\nfunding_programme = "F"\nobjective = "O"\n'
        "start = 2019-01-01\nend = 2022-12-31\n"
        + tables
        + "[[periods]]\nnumber = 1\nstart = 2019-01-01\nend = 2022-12-31\nreport_deadline = 2023-03-31\n"
        + indicators
    )


async def apply_programme(settings: Settings, text: str) -> Applied:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        return await ProgrammeStore(engine).apply(parse_programme(text, Path("programme.toml")), "test")
    finally:
        await engine.dispose()
