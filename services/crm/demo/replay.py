"""Send a scenario through the HTTP gateway the way each partner's system would.

Every line is POSTed alone, in the partner's send order (one refused envelope must not take
valid ones down with it); partners send concurrently. A 503 (Kafka away) is retried with the
same bytes, hence the same event id, after the server's Retry-After.
"""

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from crm.demo.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Refusal:
    partner_id: str
    line: int
    status: int
    problems: tuple[dict[str, object], ...]


@dataclass
class ReplayReport:
    sent: int = 0
    accepted: int = 0
    retried: int = 0
    refused: list[Refusal] = field(default_factory=list)
    accepted_ids: set[str] = field(default_factory=set)
    """The distinct event ids the gateway accepted: what the projector must have applied."""


async def replay_scenario(
    scenario: Scenario,
    gateway_url: str,
    tokens: dict[str, str],
    *,
    on_sent: Callable[[], None] = lambda: None,
    max_attempts: int = 20,
    lines: Mapping[str, Sequence[tuple[int, bytes]]] | None = None,
    report: ReplayReport | None = None,
) -> ReplayReport:
    """Send every feed (or only `lines`, per partner), adding to `report` when given."""
    report = report if report is not None else ReplayReport()
    chosen = lines if lines is not None else {p: feed.numbered() for p, feed in scenario.feeds.items()}
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30.0) as client:

        async def send_feed(partner_id: str) -> None:
            headers = {"Authorization": f"Bearer {tokens[partner_id]}", "Content-Type": "application/json"}
            for line_number, raw in chosen.get(partner_id, ()):
                for _attempt in range(max_attempts):
                    response = await client.post("/v1/events", content=raw, headers=headers)
                    if response.status_code != 503:
                        break
                    report.retried += 1
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                report.sent += 1
                if response.status_code == 202:
                    report.accepted += int(response.json()["accepted"])
                    report.accepted_ids.add(f"{partner_id}:{json.loads(raw)['event_id']}")
                else:
                    media_type = response.headers.get("content-type", "").split(";")[0].strip()
                    # Refusals are RFC 9457 problems; `errors` locates each one (docs/contract.md "Errors").
                    body = response.json() if media_type in ("application/json", "application/problem+json") else {}
                    problems = tuple(body.get("errors", [])) or ({"message": response.text[:200]},)
                    report.refused.append(Refusal(partner_id, line_number, response.status_code, problems))
                on_sent()

        await asyncio.gather(*(send_feed(partner_id) for partner_id in chosen))
    report.refused.sort(key=lambda refusal: (refusal.partner_id, refusal.line))
    return report
