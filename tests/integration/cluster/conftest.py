"""One three-broker SASL_SSL cluster for the session's tests in this folder (beside the single
broker every other test uses)."""

from collections.abc import Iterator

import pytest

from crm.settings import Settings
from tests.support.isolation import isolated_settings
from tests.support.kafka_cluster import SecureCluster, running_secure_cluster


@pytest.fixture(scope="session")
def secure_cluster(infrastructure: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    with running_secure_cluster(infrastructure, tmp_path_factory.mktemp("kafka-cluster")) as running:
        yield running


@pytest.fixture
async def on_cluster(secure_cluster: SecureCluster) -> Settings:
    """Per-test topics, groups and database, with the cluster as Kafka."""
    return await isolated_settings(secure_cluster.base)
