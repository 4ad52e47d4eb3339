"""Snooze and acknowledge over HTTP, against the real PostgreSQL: who may, what it stores, what the
alerts service then reads."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from crm.alerts.controls import load_controls
from crm.alerts.rules import Controls, Decision, PilotState, Stall, alert_event, alert_id
from crm.alerts.store import PostgresAlertViews, ReceivedAlert
from crm.contract.decoding import encode_event
from crm.db.engine import create_engine
from crm.http_bodies import QUERY_MAX_BODY_BYTES
from crm.settings import Settings
from tests.support.query import running_query_api

pytestmark = pytest.mark.infra

T0 = datetime(2020, 1, 1, tzinfo=UTC)


async def fire_stall(settings: Settings, partner_id: str, pilot_id: str) -> str:
    """The alerts read model as after a PilotStalled for that pilot; returns the alert id."""
    stalled_id = alert_id(partner_id, pilot_id, T0, "stalled")
    at = T0 + timedelta(days=31)
    state = PilotState(
        partner_id, pilot_id, "sme-1", "CN", True, None, T0, uuid4(), T0, Stall(stalled_id, T0, at, at, 30)
    )
    event = alert_event(Decision("stalled", stalled_id, at, state, T0, 31, 30))
    engine = create_engine(settings.database_url)
    try:
        await PostgresAlertViews(engine).apply([ReceivedAlert(event, encode_event(event))])
    finally:
        await engine.dispose()
    return str(stalled_id)


async def controls_now(settings: Settings) -> Controls:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            return await load_controls(connection)
    finally:
        await engine.dispose()


async def test_a_partner_snoozes_its_pilot_others_and_analysts_may_not(isolated: Settings) -> None:
    await fire_stall(isolated, "tehnopol", "p-1")
    path = "/v1/partners/tehnopol/pilots/p-1/snooze"
    body = {"until": "2020-03-01T00:00:00Z"}
    async with running_query_api(isolated) as api:
        assert (await api.client.put(path, json=body)).status_code == 401
        for token in (api.other_partner_token, api.analyst_token):
            refused = await api.client.put(path, json=body, headers=api.auth(token))
            assert refused.status_code == 403, refused.text
        assert not (await controls_now(isolated)).snoozed_until
        for bad in ({"until": "2020-03-01T00:00:00"}, {"until": "soon"}, {**body, "by": "me"}, {}):
            rejected = await api.client.put(path, json=bad, headers=api.auth(api.partner_token))
            assert rejected.status_code == 422, (bad, rejected.text)

        done = await api.client.put(path, json=body, headers=api.auth(api.partner_token))
        assert done.status_code == 200, done.text
        assert done.json() == {"partner_id": "tehnopol", "pilot_id": "p-1", "snoozed_until": "2020-03-01T00:00:00Z"}
        later = await api.client.put(
            path, json={"until": "2020-04-01T00:00:00+02:00"}, headers=api.auth(api.partner_token)
        )
        assert later.status_code == 200  # a later snooze replaces it
        alerts = (await api.get("/v1/partners/tehnopol/alerts", api.partner_token)).json()["items"]
    controls = await controls_now(isolated)
    until = datetime(2020, 3, 31, 22, 0, tzinfo=UTC)
    assert controls.snoozed_until == {("tehnopol", "p-1"): until}
    assert [datetime.fromisoformat(a["snoozed_until"]) for a in alerts] == [until]


async def test_a_partner_acknowledges_its_own_alert_only(isolated: Settings) -> None:
    alert = await fire_stall(isolated, "tehnopol", "p-1")
    own = f"/v1/partners/tehnopol/alerts/{alert}/acknowledge"
    async with running_query_api(isolated) as api:
        assert (await api.client.post(own, headers=api.auth(api.analyst_token))).status_code == 403
        assert (await api.client.post(own, headers=api.auth(api.other_partner_token))).status_code == 403
        # sisp on its own path, naming tehnopol's alert: not its alert
        theirs = await api.client.post(
            f"/v1/partners/sisp/alerts/{alert}/acknowledge", headers=api.auth(api.other_partner_token)
        )
        assert theirs.status_code == 404
        unknown = await api.client.post(
            f"/v1/partners/tehnopol/alerts/{uuid4()}/acknowledge", headers=api.auth(api.partner_token)
        )
        assert unknown.status_code == 404
        assert not (await controls_now(isolated)).acknowledged

        done = await api.client.post(own, headers=api.auth(api.partner_token))
        assert done.status_code == 200, done.text
        assert done.json()["alert_id"] == alert
        (listed,) = (await api.get("/v1/partners/tehnopol/alerts", api.partner_token)).json()["items"]
    assert listed["acknowledged_at"] is not None
    assert {str(a) for a in (await controls_now(isolated)).acknowledged} == {alert}


async def test_a_body_too_large_for_a_write_is_refused_before_it_is_read(isolated: Settings) -> None:
    path = "/v1/partners/tehnopol/pilots/p-1/snooze"
    padded = b'{"until": "2020-03-01T00:00:00Z", "pad": "' + b"x" * QUERY_MAX_BODY_BYTES + b'"}'
    async with running_query_api(isolated) as api:
        headers = {**api.auth(api.partner_token), "Content-Type": "application/json"}
        declared = await api.client.put(path, content=padded, headers=headers)
        assert declared.status_code == 413, declared.text
        assert str(QUERY_MAX_BODY_BYTES) in declared.json()["detail"]

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            for start in range(0, len(padded), 4096):
                yield padded[start : start + 4096]

        streamed = await api.client.put(path, content=chunks(), headers=headers)
        assert streamed.status_code == 413, streamed.text
        acknowledged = await api.client.post(
            f"/v1/partners/tehnopol/alerts/{uuid4()}/acknowledge", content=padded, headers=headers
        )
        assert acknowledged.status_code == 413, acknowledged.text
    assert not (await controls_now(isolated)).snoozed_until
