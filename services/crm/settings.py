"""The one settings object. Every knob is a `CRM_*` environment variable (see README)."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Created once by each composition root and handed down; never read from globals."""

    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore", frozen=True)

    # Where the embedded Kafka and PostgreSQL keep their data and logs.
    state_dir: Path = Path(".crm")

    # External infrastructure. When unset, the project starts its own under `state_dir`.
    kafka_bootstrap: str | None = None
    database_url: str | None = None

    # Ports of the embedded servers; 0 picks a free port at start-up.
    kafka_port: int = Field(default=0, ge=0, le=65535)
    postgres_port: int = Field(default=0, ge=0, le=65535)
    kafka_heap: str = "512m"

    # Topics (CONTRACT.md "Kafka").
    events_topic: str = "crm.events"
    alerts_topic: str = "crm.alerts"
    dlq_topic: str = "crm.events.dlq"
    topic_partitions: int = Field(default=4, ge=1, le=256)

    # HTTP services, loopback unless told otherwise.
    bind_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=0, le=65535)
    query_port: int = Field(default=8001, ge=0, le=65535)

    # Projector batching.
    projector_group: str = "crm-projector"
    projector_batch_size: int = Field(default=2000, ge=1)
    projector_batch_seconds: float = Field(default=0.2, gt=0)
    # How long a silent (crashed) worker keeps its partitions before the group takes them over.
    projector_session_timeout: float = Field(default=10.0, ge=6.0)

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def postgres_dir(self) -> Path:
        return self.state_dir / "postgres"
