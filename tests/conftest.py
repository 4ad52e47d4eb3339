"""Shared fixtures. Kafka and PostgreSQL are real: started once per session under
.crm/test-<pid>/ (or taken from CRM_KAFKA_BOOTSTRAP / CRM_DATABASE_URL). When they cannot start,
every test that needs them fails with the reason; nothing is skipped.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm.local.servers import running_infrastructure
from crm.logs import configure_logging
from crm.settings import Settings
from tests.support.isolation import isolated_settings


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Settings]:
    """Settings pointing at a running Kafka and PostgreSQL for the whole test session."""
    configure_logging("warning", "console")
    state_dir = (Path(".crm") / f"test-{os.getpid()}").resolve()
    settings = Settings().model_copy(update={"state_dir": state_dir})
    try:
        with running_infrastructure(settings) as live:
            yield live
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
async def isolated(infrastructure: Settings) -> Settings:
    """Per-test topics, consumer group and a fresh migrated database on the session's servers."""
    return await isolated_settings(infrastructure)
