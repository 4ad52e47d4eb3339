"""A service spawned with `service_environment(settings)` reads back the same settings."""

import os
from datetime import date

import pytest

from crm.local.services import service_environment
from crm.settings import Settings


def test_every_setting_survives_the_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        alerts_thresholds={"CN": 45, "tehnopol/CN": 60},
        contract_sunsets={1: date(2027, 6, 30)},
        default_programme="prog-a",
        projector_batch_seconds=0.5,
        alerts_batch_seconds=0.3,
        query_retry_after=9,
        database_url="postgresql+asyncpg://crm_app:pw@127.0.0.1:5432/crm",
        database_admin_url="postgresql+asyncpg://crm:secret@127.0.0.1:5432/crm",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="crm",
        kafka_sasl_password="kafka-secret",  # a SecretStr: handed over as itself, not as its stars
    )
    env = service_environment(settings)
    for name in [key for key in list(os.environ) if key.startswith("CRM_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("CRM_"):
            monkeypatch.setenv(name, value)

    assert Settings() == settings.model_copy(update={"database_admin_url": None})  # never handed to a service
