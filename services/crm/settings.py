"""The one settings object. Every knob is a `CRM_*` environment variable (see README)."""

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm.contract.fields import ProgrammeId
from crm.contract.lifecycle import check_sunsets


class Settings(BaseSettings):
    """Created once by each composition root and handed down; never read from globals."""

    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore", frozen=True)

    # Where the embedded Kafka and PostgreSQL keep their data and logs.
    state_dir: Path = Path(".crm")

    # External infrastructure. When unset, the project starts its own under `state_dir`.
    kafka_bootstrap: str | None = None
    database_url: str | None = None
    # A role that may create roles, for `crm sql grant` / `revoke` only (default: database_url).
    # Never handed to the services. The embedded server's superuser when it runs.
    database_admin_url: str | None = None

    # Ports of the embedded servers; 0 picks a free port at start-up.
    kafka_port: int = Field(default=0, ge=0, le=65535)
    postgres_port: int = Field(default=0, ge=0, le=65535)
    kafka_heap: str = "512m"

    # The programme of events that name none: version-1 events are upcast into it
    # (docs/contract.md "Versions"). A deployment that names no programme has this one.
    default_programme: ProgrammeId = "default"
    # Per older contract version, the day the gateway starts refusing it (docs/contract.md
    # "Versions"), JSON: {"1": "2027-06-30"}. Until then its 202s carry Deprecation and Sunset.
    contract_sunsets: dict[int, date] = Field(default_factory=dict)

    # Topics (docs/contract.md "Kafka").
    events_topic: str = "crm.events"
    alerts_topic: str = "crm.alerts"
    dlq_topic: str = "crm.events.dlq"
    topic_partitions: int = Field(default=4, ge=1, le=256)

    # HTTP services, loopback unless told otherwise.
    bind_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=0, le=65535)
    query_port: int = Field(default=8001, ge=0, le=65535)

    # Ingestion gateway limits and behaviour when Kafka is away (README "Settings").
    gateway_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    gateway_max_events: int = Field(default=1000, ge=1)
    gateway_max_text_length: int = Field(default=4000, ge=1, le=4000)
    gateway_publish_timeout: float = Field(default=5.0, gt=0)
    gateway_retry_after: int = Field(default=5, ge=1)
    token_cache_seconds: float = Field(default=5.0, ge=0)
    # How often the gateway reads the programmes' partners again (a programme applied is taken
    # within this delay); it never reads them per request.
    programme_cache_seconds: float = Field(default=5.0, gt=0)

    # Query service: database pool, how long the freshness figures are cached.
    query_pool_size: int = Field(default=5, ge=1, le=100)
    query_freshness_seconds: float = Field(default=2.0, ge=0)

    # Projector batching. A batch's cost is mostly per SME it touches (load, fold, upsert its
    # rows), so larger batches, in which an SME's events coalesce, cost less per event:
    # 5000 halved CPU per event against 2000 (docs/benchmarks.md).
    projector_group: str = "crm-projector"
    projector_batch_size: int = Field(default=5000, ge=1)
    # How long a batch waits after its first event for more: the end-to-end freshness at low rates
    # (0.2 s gave p50 130 ms at 200 ev/s, 0.02 s 38 ms; under load batches fill without waiting).
    projector_batch_seconds: float = Field(default=0.02, gt=0)
    # How long a silent (crashed) worker keeps its partitions before the group takes them over.
    projector_session_timeout: float = Field(default=10.0, ge=6.0)

    # Stalled-pilot alerts (the alerts service).
    alerts_group: str = "crm-alerts"
    # The alerts service's consumer batches (crm.events into the detector, crm.alerts into the
    # read model); each batch's changelog writes / rows are stored before its offsets are committed.
    alerts_batch_size: int = Field(default=2000, ge=1)
    alerts_threshold_days: int = Field(default=30, ge=1)
    # Overrides, JSON: {"CN": 45, "tehnopol": 20, "tehnopol/CN": 60} (market, partner, both).
    alerts_thresholds: dict[str, int] = Field(default_factory=dict)
    alerts_repeat_days: float = Field(default=7.0, gt=0)
    # Snoozes a partner may hold that have not ended yet (every snooze is read on every evaluation).
    alerts_max_snoozes_per_partner: int = Field(default=1000, ge=1)
    alerts_clock: Literal["wall", "event", "file"] = "wall"
    alerts_clock_file: Path | None = None
    # How long Kafka waits for a silent (crashed) worker before its partitions move on.
    alerts_session_timeout_seconds: float = Field(default=30.0, ge=6)
    alerts_evaluate_seconds: float = Field(default=1.0, gt=0)
    alerts_webhook_poll_seconds: float = Field(default=1.0, gt=0)
    alerts_webhook_retry_seconds: float = Field(default=2.0, gt=0)
    alerts_webhook_max_retry_seconds: float = Field(default=600.0, gt=0)
    alerts_webhook_timeout_seconds: float = Field(default=10.0, gt=0)

    # Every HTTP service (gateway, query API): a connection must send its request headers within
    # `http_header_timeout` seconds of opening (or of starting a request), an idle keep-alive
    # connection is closed after `http_keepalive_timeout`, a body (the gateway's, the query API's
    # writes) is read within `http_body_timeout`, and with more than `http_max_connections` open
    # connections or as many requests in flight a request gets a problem+json 503 with
    # Retry-After (crm/http_concurrency.py).
    http_header_timeout: float = Field(default=10.0, gt=0)
    http_keepalive_timeout: int = Field(default=5, ge=1)
    http_body_timeout: float = Field(default=30.0, gt=0)
    http_max_connections: int = Field(default=1000, ge=1)

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("contract_sunsets")
    @classmethod
    def _older_versions_only(cls, sunsets: dict[int, date]) -> dict[int, date]:
        return check_sunsets(sunsets)

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def postgres_dir(self) -> Path:
        return self.state_dir / "postgres"
