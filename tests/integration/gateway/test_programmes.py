"""Events name their programme, at the real gateway on Kafka and PostgreSQL: a defined programme
takes its partners' events only (403 otherwise), an undefined one none (422) but the deployment's
default, a programme applied while the gateway runs is taken after its refresh, and PostgreSQL
going away leaves the last programmes read in use (503 only when none ever were)."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.gateway.app import NOT_A_PROGRAMME_PARTNER, UNKNOWN_PROGRAMME, create_app
from crm.gateway.claims import PostgresEventClaims
from crm.gateway.kafka import KafkaEventSink
from crm.gateway.programmes import RefreshedMemberships
from crm.settings import Settings
from tests.integration.gateway.test_import import crm_import
from tests.support.events import envelope
from tests.support.gateway import Gateway, create_token, published, running_gateway
from tests.support.in_process import in_process_client
from tests.support.programmes import apply_programme, programme_file
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

pytestmark = pytest.mark.infra

REFRESH = 0.2  # CRM_PROGRAMME_CACHE_SECONDS of these gateways


def v2(programme: str, event_type: str = "SMEWithdrawn", **overrides: object) -> dict[str, object]:
    return envelope(event_type, schema_version=2, programme_id=programme, **overrides)


def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"programme_cache_seconds": REFRESH, "token_cache_seconds": 0.0})


async def poll(probe: Callable[[], Awaitable[httpx.Response]], status: int, timeout: float) -> httpx.Response:
    """`probe` again and again until it answers `status`, at most `timeout` seconds; the last answer."""
    deadline = time.monotonic() + timeout
    response = await probe()
    while response.status_code != status and time.monotonic() < deadline:
        await asyncio.sleep(REFRESH / 4)
        response = await probe()
    return response


def event_ids(records: list[object]) -> set[str]:
    return {json.loads(r.value)["event_id"] for r in records}  # type: ignore[attr-defined]


async def test_a_defined_programme_refuses_a_partner_not_in_it_with_a_403_and_publishes_nothing_of_the_request(
    isolated: Settings,
) -> None:
    await apply_programme(isolated, programme_file("prog-sisp", ["sisp"]))
    await apply_programme(isolated, programme_file("prog-both", ["sisp", "tehnopol"]))
    async with running_gateway(fast(isolated)) as gateway:
        mine = v2("prog-both", sme_id="mine")
        theirs_programme = v2("prog-sisp", sme_id="not-mine")
        refused = await gateway.post([mine, envelope("SMEWithdrawn", sme_id="v1"), theirs_programme])
        one = await gateway.post(theirs_programme)
        sisp = v2("prog-sisp", partner_id="sisp", sme_id="theirs")
        accepted = await gateway.post([sisp], token=gateway.other_partner_token)
        accepted_mine = await gateway.post(mine)

    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"] == NOT_A_PROGRAMME_PARTNER
    assert (body["status"], body["programmes"]) == (403, ["prog-sisp"])
    assert "prog-sisp" in body["detail"] and "nothing was published" in body["detail"]
    assert body["errors"] == [
        {"index": 2, "field": "programme_id", "message": "partner 'tehnopol' is not a partner of programme 'prog-sisp'"}
    ]
    assert one.status_code == 403 and one.json()["errors"][0]["index"] == 0
    assert (accepted.status_code, accepted_mine.status_code) == (202, 202)
    # All or nothing: of the refused request, not even the events of programmes that take them.
    assert event_ids(await published(isolated, at_least=2)) == {sisp["event_id"], mine["event_id"]}


async def test_an_unknown_programme_is_a_422_on_programme_id_and_the_default_needs_no_file(
    isolated: Settings,
) -> None:
    async with running_gateway(fast(isolated)) as gateway:
        unknown = await gateway.post([v2("default", sme_id="a"), v2("nope", sme_id="b"), v2("nope-2", sme_id="c")])
        default_v2 = v2("default", sme_id="d")
        default_v1 = envelope("SMEWithdrawn", sme_id="e")  # upcast into the default programme
        accepted = await gateway.post([default_v2, default_v1])

    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    body = unknown.json()
    assert (body["type"], body["status"], body["programmes"]) == (UNKNOWN_PROGRAMME, 422, ["nope", "nope-2"])
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "programme_id"), (2, "programme_id")]
    assert body["errors"][0]["message"] == "unknown programme 'nope': no programme of that id is defined"
    assert accepted.status_code == 202, accepted.text
    assert event_ids(await published(isolated, at_least=2)) == {default_v2["event_id"], default_v1["event_id"]}


async def test_a_programme_applied_while_the_gateway_runs_is_taken_after_the_refresh(isolated: Settings) -> None:
    async with running_gateway(fast(isolated)) as gateway:
        before = await gateway.post(v2("prog-new", sme_id="early"))
        await apply_programme(isolated, programme_file("prog-new", ["tehnopol"]))
        applied_at = time.monotonic()
        event = v2("prog-new", sme_id="late")
        after = await poll(lambda: gateway.post(event), 202, timeout=10 * REFRESH + 5)
        taken_after = time.monotonic() - applied_at
        # The default programme, once defined, takes its partners only.
        await apply_programme(isolated, programme_file("default", ["sisp"]))
        v1 = envelope("SMEWithdrawn", sme_id="v1")  # accepted until the refresh takes the file
        refused = await poll(lambda: gateway.post(v1), 403, 10 * REFRESH + 5)

    assert before.status_code == 422
    assert after.status_code == 202, after.text
    assert taken_after < 10 * REFRESH + 5
    assert refused.status_code == 403, refused.text
    assert refused.json()["programmes"] == ["default"]
    assert event_ids(await published(isolated, at_least=1)) - {v1["event_id"]} == {event["event_id"]}


@dataclass
class ProxiedGateway:
    gateway: Gateway
    programmes: RefreshedMemberships
    proxy: TcpProxy


@asynccontextmanager
async def gateway_reading_programmes_through(
    settings: Settings, proxy: TcpProxy, *, cut_at_start: bool = False
) -> AsyncIterator[ProxiedGateway]:
    """The real app whose programmes (only) are read through `proxy`; its tokens and event ids
    straight from PostgreSQL."""
    assert settings.kafka_bootstrap
    if cut_at_start:
        await proxy.cut()
    url = make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port)
    programmes_engine = create_engine(url.render_as_string(hide_password=False), pool_size=1)
    engine = create_engine(settings.database_url)
    programmes = RefreshedMemberships(programmes_engine, settings.default_programme, refresh=REFRESH)
    app = create_app(
        settings,
        KafkaEventSink(settings.kafka, settings.events_topic, publish_timeout=settings.gateway_publish_timeout),
        TokenStore(engine, ttl=0.0),
        PostgresEventClaims(engine),
        programmes,
    )
    _, partner = await create_token(settings, "tehnopol")
    _, other = await create_token(settings, "sisp")
    _, analyst = await create_token(settings, None)
    try:
        async with in_process_client(app, "http://gateway") as client:
            yield ProxiedGateway(Gateway(client, settings, partner, other, analyst), programmes, proxy)
    finally:
        await programmes_engine.dispose()


async def test_while_postgresql_is_away_the_last_programmes_read_stay_in_use(isolated: Settings) -> None:
    await apply_programme(isolated, programme_file("prog-sisp", ["sisp"]))
    database = make_url(isolated.database_url)
    async with (
        tcp_proxy(database.host or "127.0.0.1", database.port or 5432) as proxy,
        gateway_reading_programmes_through(isolated, proxy) as live,
    ):
        gateway = live.gateway
        assert (await gateway.post(v2("prog-sisp", sme_id="x"))).status_code == 403
        await proxy.cut()
        deadline = time.monotonic() + 30
        while (live.programmes.age or 0) < 5 * REFRESH and time.monotonic() < deadline:
            assert (await gateway.post([])).status_code == 202  # requests go on while the refreshes fail
            await asyncio.sleep(REFRESH / 4)
        assert (live.programmes.age or 0) >= 5 * REFRESH, "the programmes kept being read through a cut proxy"
        default = v2("default", sme_id="ok")
        kept = await gateway.post(default)
        still_refused = await gateway.post(v2("prog-sisp", sme_id="y"))  # not open to all while away
        await apply_programme(isolated, programme_file("prog-new", ["tehnopol"]))
        unseen = await gateway.post(v2("prog-new", sme_id="z"))
        await proxy.restore()
        new = v2("prog-new", sme_id="back")
        seen = await poll(lambda: gateway.post(new), 202, timeout=30)

    assert kept.status_code == 202, kept.text
    assert still_refused.status_code == 403
    assert unseen.status_code == 422  # applied, but not read yet
    assert seen.status_code == 202, seen.text
    assert event_ids(await published(isolated, at_least=2)) == {default["event_id"], new["event_id"]}


async def test_programmes_never_read_are_a_503_with_retry_after_until_postgresql_answers(isolated: Settings) -> None:
    database = make_url(isolated.database_url)
    async with (
        tcp_proxy(database.host or "127.0.0.1", database.port or 5432) as proxy,
        gateway_reading_programmes_through(isolated, proxy, cut_at_start=True) as live,
    ):
        event = v2("default", sme_id="retried")
        away = await live.gateway.post(event)
        await proxy.restore()
        back = await poll(lambda: live.gateway.post(event), 202, timeout=30)

    assert away.status_code == 503
    assert away.headers["retry-after"] == str(isolated.gateway_retry_after)
    assert "programmes" in away.json()["detail"]
    assert back.status_code == 202, back.text
    assert event_ids(await published(isolated, at_least=1)) == {event["event_id"]}


async def test_an_import_refuses_rows_of_an_unknown_programme_or_one_without_the_partner(
    isolated: Settings, tmp_path: Path
) -> None:
    await apply_programme(isolated, programme_file("prog-sisp", ["sisp"]))
    await apply_programme(isolated, programme_file("prog-both", ["sisp", "tehnopol"]))

    def row(programme: str | None, sme_id: str) -> str:
        body = {"event_type": "SMEWithdrawn", "occurred_at": "2021-01-01T00:00:00Z", "sme_id": sme_id, "payload": {}}
        return json.dumps(body if programme is None else {**body, "schema_version": 2, "programme_id": programme})

    good = [row(None, "a"), row("default", "b"), row("prog-both", "c")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*good, row("prog-sisp", "d"), row("nope", "e")]) + "\n")
    refused = crm_import(isolated, bad)
    checked = crm_import(isolated, bad, "--check")
    assert refused.returncode == 1 and checked.returncode == 1
    for output in (refused.stderr, checked.stderr):
        assert f"{bad}:4: programme_id: partner 'tehnopol' is not a partner of programme 'prog-sisp'" in output
        assert f"{bad}:5: programme_id: unknown programme 'nope'" in output
        assert "2 problem(s); nothing was sent" in output
    assert await published(isolated, wait=1.0) == []

    ok = tmp_path / "good.jsonl"
    ok.write_text("\n".join(good) + "\n")
    sent = crm_import(isolated, ok)
    assert sent.returncode == 0, sent.stderr
    assert "3 events sent" in sent.stdout
    assert len(await published(isolated, at_least=3)) == 3
