"""Every metric a service exposes on `/metrics`, defined once (prometheus_client's default registry).

Each process serves the metrics of the code it runs: the gateway its HTTP and ingestion figures,
the projector its batches, the alerts service its deliveries. Counters are cheap enough for the
gateway's hot path (one lock-free add); labels are bounded (route templates, never raw paths;
refusal reasons from a fixed list). `infra/observability/` uses these names, and a unit test checks
that every name it uses is defined here or by `crm status --format prometheus` (crm/status_metrics.py).
"""

from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

# Latencies of one request or one publish: milliseconds to a few seconds (the publish deadline).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A projector batch: one event (milliseconds) to 5000 events (seconds).
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# HTTP services (gateway, query API): crm.observability.http.RequestMetrics.
HTTP_REQUESTS = Counter(
    "crm_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "crm_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)

# The gateway's ingestion.
EVENTS_ACCEPTED = Counter("crm_gateway_events_accepted", "Events the gateway accepted (answered 202).")
REFUSALS = Counter(
    "crm_gateway_refused_requests",
    "Requests of events the gateway refused (nothing published), by reason (docs/operations.md).",
    ["reason"],
)
REFUSAL_REASONS = (
    "invalid",
    "too_large",
    "unknown_programme",
    "foreign_programme",
    "foreign_partner",
    "conflict",
    "unclaimable",
    "claims_unavailable",
    "programmes_unavailable",
    "kafka_unavailable",
)
for _reason in REFUSAL_REASONS:  # every reason shows (at 0) from the start, so rates work at once
    REFUSALS.labels(_reason)
PUBLISH_DURATION = Histogram(
    "crm_kafka_publish_duration_seconds",
    "Time until Kafka acknowledged (or refused, or timed out on) one publish of a request's events.",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)

# The projector (crm.projector.batches).
BATCHES = Counter("crm_projector_batches", "Batches of crm.events the projector handled.")
EVENTS_APPLIED = Counter("crm_projector_events_applied", "Events newly applied to the read models.")
EVENTS_DUPLICATE = Counter(
    "crm_projector_events_duplicate", "Events received again and skipped (their id already applied)."
)
BATCH_DURATION = Histogram(
    "crm_projector_batch_duration_seconds",
    "Time to handle one batch: decode, apply in one transaction, park what cannot be applied.",
    buckets=BATCH_BUCKETS,
)
PARTITION_LAG = Gauge(
    "crm_projector_partition_lag",
    "Records of an assigned crm.events partition behind this worker's position (the fetched high "
    "watermark minus the next offset to handle).",
    ["partition"],
)


def set_partition_lag(lags: Mapping[int, int]) -> None:
    """The lag of the partitions assigned now (a revoked partition's figure goes)."""
    PARTITION_LAG.clear()
    for partition, lag in lags.items():
        PARTITION_LAG.labels(str(partition)).set(lag)


# Dead letters, by the consumer that parked them (the projector; the alerts read model).
DEAD_LETTERS = Counter(
    "crm_dead_letters_parked",
    "Messages parked on the dead-letter topic (undecodable, unstorable, conflicting).",
    ["consumer"],
)

# The alerts service.
ALERTS_OPEN = Gauge("crm_alerts_open", "Alerts not resolved (firing or acknowledged), from the read model.")
WEBHOOK_BACKLOG = Gauge(
    "crm_alerts_webhook_backlog", "Alerts in the webhook outbox not yet delivered (due now or waiting to retry)."
)
WEBHOOK_ATTEMPTS = Counter(
    "crm_alerts_webhook_attempts", "Webhook delivery attempts, by outcome (`delivered`, `failed`).", ["outcome"]
)
for _outcome in ("delivered", "failed"):
    WEBHOOK_ATTEMPTS.labels(_outcome)

# Every service with a readiness probe: 1 while its last /ready answered ready.
READY = Gauge("crm_ready", "1 when the service's last readiness check passed, 0 when it failed.")
