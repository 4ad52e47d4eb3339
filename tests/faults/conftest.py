"""The fault suite (`make test-faults`): its own Kafka broker and PostgreSQL server under a tmp dir,
so it can stop, restart and starve them without touching anything else. Never part of `make test`
(pyproject's `norecursedirs` leaves this folder out unless it is named on the command line).

When Kafka or PostgreSQL cannot start, every test here errors with the reason; nothing is skipped.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from crm.logs import configure_logging
from tests.support.faults import FaultStack, fault_stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    configure_logging("warning", "console")
    with fault_stack(tmp_path_factory.mktemp("fault-stack")) as running:
        yield running
