"""Hostile input: garbage straight onto the events topic, and a fuzzed gateway. Nothing crashes,
nothing answers 5xx, every bad message is refused (4xx) or parked on the DLQ with its reason,
and good events keep flowing meanwhile."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.contract.decoding import decode_event, encode_event
from crm.contract.events import DomainEvent
from crm.gateway.bootstrap import build_gateway
from crm.messaging.connection import client_options
from crm.settings import Settings
from tests.support.events import EXAMPLES, envelope
from tests.support.faults import FaultStack, SteadyLoad, deployment, record_figures, settle_and_verify
from tests.support.gateway import create_token
from tests.support.histories import history
from tests.support.isolation import isolated_settings
from tests.support.query import load_4smartgrowth
from tests.support.query_fuzzing import fuzz_query_api, query_service

HUGE = 1_900_000  # under the broker's message.max.bytes (2 MiB), far over any real event


def at(occurred_at: str, **fields: Any) -> bytes:
    return json.dumps(envelope("SMEWithdrawn", {}, occurred_at=occurred_at, **fields)).encode()


def hostile_messages() -> list[tuple[str, bytes | None]]:
    """(what, value): each one undecodable or outside the contract."""
    good = envelope("SMEWithdrawn", {}, sme_id="sme-hostile")
    latin1 = json.dumps(envelope("SMEWithdrawn", {"reason": "été"}), ensure_ascii=False).encode("latin-1")
    return [
        ("garbage bytes", bytes(range(256)) * 4),
        ("empty value", b""),
        ("tombstone (no value)", None),
        ("not UTF-8", b'{"event_id": "\xff\xfe"}'),
        ("UTF-16 encoded event", json.dumps(good).encode("utf-16")),
        ("Latin-1 payload", latin1),
        ("huge JSON string", json.dumps({**good, "payload": {"reason": "x" * HUGE}}).encode()),
        ("huge array", b"[" + b"0," * (HUGE // 2) + b"0]"),
        ("deeply nested", b"[" * 5000 + b"]" * 5000),
        ("JSON null", b"null"),
        ("JSON array of events", json.dumps([good]).encode()),
        ("JSON number", b"12345"),
        ("wrong shape", json.dumps({"id": 1, "type": "SMESelected", "data": {}}).encode()),
        ("payload of another type", json.dumps(envelope("SMEWithdrawn", EXAMPLES["PilotOpened"])).encode()),
        (
            "far future past UTC",
            json.dumps(envelope("SMEWithdrawn", {}, occurred_at="9999-12-31T23:59:59-01:00")).encode(),
        ),
        (
            "ancient before UTC",
            json.dumps(envelope("SMEWithdrawn", {}, occurred_at="0001-01-01T00:30:00+01:00")).encode(),
        ),
        ("year 10000", json.dumps(envelope("SMEWithdrawn", {}, occurred_at="10000-01-01T00:00:00Z")).encode()),
        ("naive timestamp", json.dumps(envelope("SMEWithdrawn", {}, occurred_at="2020-01-01T00:00:00")).encode()),
        ("schema_version 2", json.dumps(envelope("SMEWithdrawn", {}, schema_version=2)).encode()),
    ]


async def _put_on_topic(settings: Settings, messages: list[tuple[str, bytes | None]]) -> None:
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all", max_request_size=3 * 2**20)
    await producer.start()
    try:
        for n, (_, value) in enumerate(messages):
            await producer.send_and_wait(settings.events_topic, value, key=f"hostile/{n}".encode())
    finally:
        await producer.stop()


async def _dead_letters(settings: Settings, count: int, timeout: float = 120) -> list[Any]:
    consumer = AIOKafkaConsumer(
        **client_options(settings.kafka),
        enable_auto_commit=False,
        fetch_max_bytes=8 * 2**20,
        max_partition_fetch_bytes=4 * 2**20,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.dlq_topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        parked: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(parked) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            parked.extend(r for records in batch.values() for r in records)
        return parked
    finally:
        await consumer.stop()


def test_hostile_messages_on_the_events_topic_are_parked_while_good_events_flow(
    stack: FaultStack, tmp_path: Path
) -> None:
    events = history(seed=98, smes=120)
    extremes = [  # in the contract, at the edges of what UTC can hold: applied, not parked
        decode_event(json.dumps(envelope("SMESelected", sme_id="sme-ancient", occurred_at="0001-01-01T00:00:00Z"))),
        decode_event(json.dumps(envelope("PilotOpened", sme_id="sme-ancient", occurred_at="0001-01-02T00:00:00Z"))),
        decode_event(json.dumps(envelope("PilotUpdated", sme_id="sme-ancient", occurred_at="9999-12-31T23:59:59Z"))),
        decode_event(
            json.dumps(envelope("TrainingCompleted", sme_id="sme-future", occurred_at="9999-12-31T23:59:59Z"))
        ),
    ]
    hostile = hostile_messages()
    with deployment(stack, tmp_path, alerts=True) as (running, tokens):
        with SteadyLoad(running.gateway_url, tokens, [*events[:300], *extremes, *events[300:]]) as load:
            load.wait_for_acknowledged(len(events) // 3)
            asyncio.run(_put_on_topic(running.settings, hostile))
            load.finish()
        figures = settle_and_verify(running, load)
        parked = asyncio.run(_dead_letters(running.settings, len(hostile)))
    by_key = {record.key: record for record in parked}
    for n, (what, value) in enumerate(hostile):
        record = by_key.get(f"hostile/{n}".encode())
        assert record is not None, f"{what}: not parked on the DLQ"
        headers = dict(record.headers)
        if "dlq.truncated" in headers:  # too large to park whole: a flagged prefix
            assert value is not None and value.startswith(record.value), f"{what}: not a prefix"
        else:
            assert record.value == value, f"{what}: parked bytes differ from the original"
        reason = headers.get("dlq.reason", b"")
        assert reason.strip(), f"{what}: parked without a reason"
    assert len(parked) == len(hostile), "something good was parked, or something twice"
    record_figures("hostile messages on crm.events", {**figures, "hostile": len(hostile), "parked": len(parked)})


def poison_pills(acknowledged: list[DomainEvent], count: int, round_: int = 0) -> list[tuple[str, bytes, bytes]]:
    """(what, key, value): events the contract once let through that PostgreSQL cannot store (a
    NUL), and reused ids: acknowledged events' ids again with other content, on their own key
    (so the same partition, after the original in Kafka order)."""
    pills: list[tuple[str, bytes, bytes]] = []
    tag = f"-r{round_}" if round_ else ""
    for n in range(count):
        profile = {**EXAMPLES["SMESelected"], "name": f"nul\u0000{n}"}
        nul = envelope("SMESelected", profile, sme_id=f"sme-poison{tag}-{n}")
        pills.append(("NUL in a name", f"tehnopol/sme-poison{tag}-{n}".encode(), json.dumps(nul).encode()))
        original = acknowledged[(round_ * count + n) * 7 % len(acknowledged)]
        copy = json.loads(encode_event(original))
        copy["occurred_at"] = "2001-01-01T00:00:00Z"  # other content under the same id
        pills.append(("reused event_id", original.kafka_key, json.dumps(copy).encode()))
    return pills


def test_a_stream_of_poison_pills_under_load_is_parked_and_every_good_event_applied_once(
    stack: FaultStack, tmp_path: Path
) -> None:
    # Finding 1: one unstorable event stopped the projector for every partner; finding 3: a
    # reused id applied whichever copy a batch happened to hold.
    events = history(seed=99, smes=150)
    with deployment(stack, tmp_path, alerts=True) as (running, tokens):
        with SteadyLoad(running.gateway_url, tokens, events) as load:
            load.wait_for_acknowledged(len(events) // 4)
            pills = poison_pills(list(load.acknowledged.values()), 30)
            asyncio.run(_put_pills(running.settings, pills[: len(pills) // 2]))
            load.wait_for_acknowledged(len(events) // 2)
            asyncio.run(_put_pills(running.settings, pills[len(pills) // 2 :]))
            load.finish()
        figures = settle_and_verify(running, load)  # every acknowledged event exactly once, as sent
        parked = asyncio.run(_dead_letters(running.settings, len(pills)))
        assert not running.dead_services(), running.dead_services()
    reasons = sorted(dict(record.headers)["dlq.reason"].decode() for record in parked)
    assert len(parked) == len(pills), "a pill was not parked, or something good was"
    assert sum("NUL" in r for r in reasons) == sum("other content" in r for r in reasons) == len(pills) // 2
    record_figures("poison pills on crm.events", {**figures, "pills": len(pills), "parked": len(parked)})


async def _put_pills(settings: Settings, pills: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
    await producer.start()
    try:
        for _, key, value in pills:
            await producer.send_and_wait(settings.events_topic, value, key=key)
    finally:
        await producer.stop()


def _with_random_value(base: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    mutated = json.loads(json.dumps(base))
    target = mutated
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(target, dict) else target
    if isinstance(target, dict):
        target[path[-1]] = value
    return mutated


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
FIELDS = [
    ["event_id"],
    ["event_type"],
    ["schema_version"],
    ["occurred_at"],
    ["partner_id"],
    ["sme_id"],
    ["payload"],
    ["payload", "pilot_id"],
    ["payload", "market"],
    ["payload", "name"],
    ["payload", "target_markets"],
    ["payload", "value_eur"],
    ["payload", "format"],
    ["payload", "extra"],
    ["extra"],
]
timestamps = st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()) | st.text(max_size=40)
bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.tuples(st.sampled_from(sorted(EXAMPLES)), st.sampled_from(FIELDS), json_values).map(
        lambda t: json.dumps(_with_random_value(envelope(t[0]), t[1], t[2])).encode()
    ),
    st.tuples(st.sampled_from(sorted(EXAMPLES)), timestamps).map(
        lambda t: json.dumps(envelope(t[0], occurred_at=t[1])).encode()
    ),
    st.lists(st.sampled_from(sorted(EXAMPLES)), min_size=1, max_size=5).map(
        lambda types: json.dumps([envelope(t) for t in types]).encode()
    ),
)
headers = st.fixed_dictionaries(
    {  # mostly JSON, so most requests reach validation rather than stop at 415
        "Content-Type": st.sampled_from(
            ["application/json"] * 6 + ["application/json; charset=utf-8", "text/plain", "application/xml", ""]
        )
    },
    optional={"Content-Encoding": st.sampled_from(["gzip", "identity", "br"])},
)
EXPECTED = {202, 400, 401, 403, 409, 413, 415, 422}
FUZZ_REQUESTS = 10_000


def test_fuzzed_requests_never_get_a_5xx(stack: FaultStack) -> None:
    settings_ = asyncio.run(isolated_settings(stack.base))
    token = asyncio.run(create_token(settings_, "tehnopol"))[1]
    loop = asyncio.new_event_loop()
    app = build_gateway(settings_)
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
    statuses: dict[int, int] = {}
    sent = 0
    auths = st.sampled_from([f"Bearer {token}"] * 8 + ["", "Bearer crm_nope", "Basic dXNlcjpwYXNz", f"bearer {token}"])

    @settings(max_examples=FUZZ_REQUESTS, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies, extra_headers=headers, auth=auths)
    def one_request(body: bytes, extra_headers: dict[str, str], auth: str) -> None:
        nonlocal sent
        sent += 1
        response = loop.run_until_complete(
            client.post("/v1/events", content=body, headers={"Authorization": auth, **extra_headers})
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in EXPECTED, (response.status_code, body[:200], response.text[:300])
        if response.status_code != 202:
            assert response.json(), "a refusal explains itself"

    try:
        one_request()
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()
    assert sent >= FUZZ_REQUESTS
    assert statuses.get(202, 0) > 0 and statuses.get(422, 0) > 0, statuses
    record_figures("gateway fuzz", {"requests": sent, **{f"status_{k}": v for k, v in sorted(statuses.items())}})


QUERY_FUZZ_REQUESTS = 3_000


def test_fuzzed_query_requests_never_get_a_5xx(stack: FaultStack, tmp_path: Path) -> None:
    """schemathesis over the query API's OpenAPI, against `crm query run` on the 4SmartGrowth data."""
    settings_ = asyncio.run(isolated_settings(stack.base))
    asyncio.run(load_4smartgrowth(settings_))
    tokens = [asyncio.run(create_token(settings_, partner))[1] for partner in ("tehnopol", "sisp", None)]
    with query_service(settings_, tmp_path / "query.log") as (url, _):
        seen = fuzz_query_api(url, [*tokens, None, "crm_0123456789abcdef_forged"], QUERY_FUZZ_REQUESTS)
    seconds = seen.pop(-1)
    assert sum(seen.values()) >= QUERY_FUZZ_REQUESTS
    assert {200, 401, 403, 422} <= set(seen), seen
    record_figures(
        "query API fuzz",
        {"requests": sum(seen.values()), "seconds": seconds, **{f"status_{k}": v for k, v in sorted(seen.items())}},
    )
