"""One webhook POST (`crm.alerts.webhooks.http_post`) against a real receiver on 127.0.0.1: the
exact body, signed, with its idempotency key; a refusal, nobody listening and a receiver that
never answers are answers with the reason, never exceptions. No Kafka or PostgreSQL needed."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from crm.alerts.webhooks import Delivery, http_post, webhook_client
from tests.support.webhook_receiver import WebhookReceiver, free_port

BODY = b'{"event_type": "PilotStalled", "note": "H\xc3\xa4rm\xc3\xa4l\xc3\xa4"}'


def delivery(url: str, secret: str = "s3cret") -> Delivery:
    return Delivery(uuid.uuid4(), "tehnopol", BODY, 0, url, secret)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(free_port(), secret="s3cret")
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def test_a_delivery_arrives_once_with_its_exact_body_signed(receiver: WebhookReceiver) -> None:
    sent = delivery(receiver.url)
    async with webhook_client() as client:
        answer = await http_post(client, 5.0)(sent)

    assert (answer.status_code, answer.error, answer.ok) == (204, None, True)
    assert receiver.accepted == {str(sent.event_id): BODY}
    assert receiver.bad_signatures == 0


async def test_a_wrong_secret_is_refused_and_the_answer_is_not_ok(receiver: WebhookReceiver) -> None:
    async with webhook_client() as client:
        answer = await http_post(client, 5.0)(delivery(receiver.url, secret="not-the-secret"))

    assert (answer.status_code, answer.ok) == (401, False)
    assert receiver.bad_signatures == 1


async def test_nobody_listening_is_an_answer_with_the_error() -> None:
    async with webhook_client() as client:
        answer = await http_post(client, 5.0)(delivery(f"http://127.0.0.1:{free_port()}/hooks/alerts"))

    assert answer.status_code is None
    assert answer.error is not None and "Connect" in answer.error


async def test_a_receiver_that_never_answers_is_given_up_after_the_timeout() -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # takes the request, never answers
        await asyncio.Event().wait()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with webhook_client() as client:
            answer = await http_post(client, 0.2)(delivery(f"http://127.0.0.1:{port}/hooks/alerts"))
    finally:
        server.close()

    assert answer.status_code is None
    assert answer.error is not None and "Timeout" in answer.error
