"""Delivering alerts to partners' webhooks: signed, retried with backoff, every attempt logged.

The outbox (`alert_outbox`) is filled by the read-model projection in the same transaction as
the alert rows, so an alert is never lost while a webhook is down, and detection never waits
for a webhook. Receivers see each alert once by its `Idempotency-Key` (the alert event id):
a delivery is repeated until a 2xx answer, never after.

One `httpx.AsyncClient` (`webhook_client`) carries every delivery of the service: it keeps
connections to the receivers open between polls. Each POST has `timeout_seconds` in all, follows
redirects and ignores proxy variables of the environment.
"""

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db.alert_tables import alert_outbox, partner_webhooks, webhook_deliveries
from crm.observability.metrics import WEBHOOK_ATTEMPTS

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-CRM-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def signature(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of the exact body>`, the value of X-CRM-Signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(signature(body, secret), header)


def backoff(attempts: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Wait before the next attempt after `attempts` failures: base, 2 x base, 4 x base, ... capped."""
    return timedelta(seconds=min(max_seconds, base_seconds * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True)
class Delivery:
    event_id: UUID
    partner_id: str
    body: bytes
    attempts: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


Post = Callable[[Delivery], Awaitable[Answer]]


def webhook_client() -> httpx.AsyncClient:
    """The client of every delivery; opens no connection until the first POST."""
    return httpx.AsyncClient(follow_redirects=True, trust_env=False)


def http_post(client: httpx.AsyncClient, timeout_seconds: float) -> Post:
    """POST a delivery's exact body, signed, within `timeout_seconds` in all (connecting, sending,
    reading the answer); a failure to reach the receiver is an `Answer` with the error, not raised."""

    async def post(delivery: Delivery) -> Answer:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(delivery.body, delivery.secret),
            IDEMPOTENCY_HEADER: str(delivery.event_id),
        }
        try:
            async with asyncio.timeout(timeout_seconds):
                response = await client.post(
                    delivery.url, content=delivery.body, headers=headers, timeout=timeout_seconds
                )
            return Answer(response.status_code, None)
        except (httpx.HTTPError, httpx.InvalidURL, TimeoutError, OSError) as exc:
            return Answer(None, f"{type(exc).__name__}: {exc}"[:500])

    return post


async def deliver_due(
    engine: AsyncEngine,
    post: Post,
    *,
    retry_seconds: float,
    max_retry_seconds: float,
    batch: int = 100,
) -> int:
    """POST every alert whose next attempt is due; record each attempt. Returns how many succeeded."""
    now = datetime.now(UTC)
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                alert_outbox.c.event_id,
                alert_outbox.c.partner_id,
                alert_outbox.c.body,
                alert_outbox.c.attempts,
                partner_webhooks.c.url,
                partner_webhooks.c.secret,
            )
            .join(partner_webhooks, partner_webhooks.c.partner_id == alert_outbox.c.partner_id)
            .where(alert_outbox.c.delivered_at.is_(None), alert_outbox.c.next_attempt_at <= now)
            .order_by(alert_outbox.c.enqueued_at, alert_outbox.c.event_id)
            .limit(batch)
        )
        due = [Delivery(**row._mapping) for row in rows]
    if not due:
        return 0
    results = await asyncio.gather(*(_attempt(post, delivery) for delivery in due))
    async with engine.begin() as connection:
        for delivery, (answer, attempted_at, duration_ms) in zip(due, results, strict=True):
            attempt = delivery.attempts + 1
            await connection.execute(
                webhook_deliveries.insert().values(
                    event_id=delivery.event_id,
                    partner_id=delivery.partner_id,
                    attempt=attempt,
                    url=delivery.url,
                    attempted_at=attempted_at,
                    status_code=answer.status_code,
                    error=answer.error,
                    duration_ms=duration_ms,
                )
            )
            outcome = {"attempts": attempt}
            if answer.ok:
                outcome_values: dict[str, object] = {**outcome, "delivered_at": attempted_at}
            else:
                wait = backoff(attempt, retry_seconds, max_retry_seconds)
                outcome_values = {**outcome, "next_attempt_at": attempted_at + wait}
                log.warning(
                    "alerts.webhook_failed",
                    partner_id=delivery.partner_id,
                    event_id=str(delivery.event_id),
                    attempt=attempt,
                    status=answer.status_code,
                    error=answer.error,
                    retry_in=wait.total_seconds(),
                )
            await connection.execute(
                update(alert_outbox).where(alert_outbox.c.event_id == delivery.event_id).values(**outcome_values)
            )
    for answer, _, _ in results:  # once recorded
        WEBHOOK_ATTEMPTS.labels("delivered" if answer.ok else "failed").inc()
    return sum(1 for answer, _, _ in results if answer.ok)


async def _attempt(post: Post, delivery: Delivery) -> tuple[Answer, datetime, int]:
    attempted_at = datetime.now(UTC)
    started = time.perf_counter()
    answer = await post(delivery)
    return answer, attempted_at, int((time.perf_counter() - started) * 1000)
