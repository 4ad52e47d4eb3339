"""The three-broker SASL_SSL cluster of the tests (crm/local/kafka_cluster.py), its certificates
made here, and settings that reach it as a deployment would: SASL_SSL, SCRAM-SHA-512, the CA file."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crm.local.kafka_cluster import MECHANISM, ClusterTls, KafkaCluster
from crm.settings import Settings
from tests.support.kafka_certificates import make_certificates

USERNAME = "crm-service"


@dataclass(frozen=True)
class SecureCluster:
    cluster: KafkaCluster
    base: Settings  # the given settings with the cluster as their Kafka, over SASL_SSL


@contextmanager
def running_secure_cluster(
    base: Settings, directory: Path, *, classpath_dir: Path | None = None
) -> Iterator[SecureCluster]:
    """Three nodes under `directory`; `base` gives the PostgreSQL, `classpath_dir` (default: its
    Kafka directory) where the jars' classpath is already resolved."""
    certificates = make_certificates(directory / "tls")
    password = secrets.token_urlsafe(16)
    password_file = directory / "tls" / "kafka-password"
    password_file.write_text(password + "\n")
    tls = ClusterTls(certificates.server_cert_file, certificates.server_key_file)
    with KafkaCluster(
        directory / "cluster", USERNAME, password, tls, classpath_dir=classpath_dir or base.kafka_dir
    ) as cluster:
        settings = base.model_copy(
            update={
                "kafka_bootstrap": cluster.bootstrap,
                "kafka_security_protocol": "SASL_SSL",
                "kafka_ssl_ca_file": certificates.ca_file,
                "kafka_sasl_mechanism": MECHANISM,
                "kafka_sasl_username": USERNAME,
                "kafka_sasl_password_file": password_file,
            }
        )
        yield SecureCluster(cluster, settings)
