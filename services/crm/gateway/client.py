"""A small client for the SmartGrowth CRM ingestion gateway. Copy this file; it needs only `httpx`.

    from client import EventsClient, new_event

    with EventsClient("https://crm.example.org", token="crm_...") as crm:
        crm.send(new_event("SMEWithdrawn", "tehnopol", "ee-smartlight", "2021-12-20T10:00:00Z", {}))
        crm.send_many(events)   # up to the gateway's per-request limit (default 1000)

Safe retries: every event carries its `event_id`, chosen once by `new_event`. When the gateway
answers 503 (Kafka did not confirm in time), 502/504 or the connection fails, the client sends the
*same* body again, honouring `Retry-After`; the pipeline counts each `event_id` once, so a retry
never double-counts. A 4xx is not retried: `EventsRejected` carries the gateway's explanation
(422: `errors`, each with `index`, `field`, `message`).
"""

import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

RETRYABLE = frozenset({502, 503, 504})


class EventsRejected(Exception):
    """The gateway refused the request (4xx); retrying the same request will not help."""

    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(f"{status_code}: {body}")


def new_event(
    event_type: str,
    partner_id: str,
    sme_id: str,
    occurred_at: str,
    payload: dict[str, Any],
    *,
    event_id: str | None = None,
) -> dict[str, Any]:
    """An envelope with a fresh `event_id` (keep it: it is what makes re-sending safe)."""
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": occurred_at,
        "partner_id": partner_id,
        "sme_id": sme_id,
        "payload": payload,
    }


class EventsClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 15.0,
        max_attempts: int = 6,
        max_backoff: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )
        self._max_attempts = max_attempts
        self._max_backoff = max_backoff

    def __enter__(self) -> "EventsClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, event: dict[str, Any]) -> int:
        """Send one event; returns 1 once the gateway confirmed it is stored."""
        return self._post(event)

    def send_many(self, events: Sequence[dict[str, Any]]) -> int:
        """Send events in one request (all or nothing); returns how many were accepted."""
        return self._post(list(events))

    def _post(self, body: object) -> int:
        delay = 0.5
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            try:
                response = self._http.post("/v1/events", json=body)
            except httpx.TransportError:
                if last:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            if response.status_code == 202:
                return int(response.json()["accepted"])
            if response.status_code in RETRYABLE and not last:
                time.sleep(_retry_after(response, delay, self._max_backoff))
                delay = min(delay * 2, self._max_backoff)
                continue
            raise EventsRejected(response.status_code, _body(response))
        raise AssertionError("unreachable")


def _retry_after(response: httpx.Response, default: float, ceiling: float) -> float:
    try:
        return min(float(response.headers["Retry-After"]), ceiling)
    except (KeyError, ValueError):
        return default


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
