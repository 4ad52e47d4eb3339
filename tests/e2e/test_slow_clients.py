"""Slow clients cannot hold the HTTP services (issue 13, finding 6): `crm gateway run` and
`crm query run` as users run them, with short deadlines. Each check waits far longer than the
deadline before it fails, so a loaded machine cannot make it flaky; none times the service."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from crm.local.processes import free_port, wait_until
from crm.local.services import ServiceProcess, service_environment
from crm.settings import Settings
from tests.support.events import envelope

pytestmark = pytest.mark.infra

HEADER_SECONDS, KEEPALIVE_SECONDS, BODY_SECONDS = 1, 1, 2
GIVE_UP = 30.0  # far past every deadline: a connection still open then was never cut


def closed_by_server(connection: socket.socket) -> bytes | None:
    """What the server sent before closing the connection, or None if it kept it open."""
    connection.settimeout(GIVE_UP)
    received = b""
    try:
        while chunk := connection.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    return received


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_idle_half_sent_and_trickling_clients_are_cut_after_their_deadlines(isolated: Settings, tmp_path: Path) -> None:
    gateway_port, query_port = free_port(), free_port()
    env = service_environment(
        isolated,
        CRM_GATEWAY_PORT=str(gateway_port),
        CRM_QUERY_PORT=str(query_port),
        CRM_HTTP_HEADER_TIMEOUT=str(HEADER_SECONDS),
        CRM_HTTP_KEEPALIVE_TIMEOUT=str(KEEPALIVE_SECONDS),
        CRM_HTTP_BODY_TIMEOUT=str(BODY_SECONDS),
    )
    token = subprocess.run(
        [sys.executable, "-m", "crm.cli", "tokens", "create", "--partner", "tehnopol"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    logs = tmp_path / "logs"
    with (
        ServiceProcess("gateway", ["gateway", "run"], env, logs / "gateway.log") as gateway,
        ServiceProcess("query", ["query", "run"], env, logs / "query.log") as query,
    ):
        for service, port in ((gateway, gateway_port), (query, query_port)):
            url = f"http://127.0.0.1:{port}/health"
            assert wait_until(lambda u=url: _answers(u), 90, interval=0.3), service.log_path.read_text()[-3000:]
            idle = connect(port)  # sends nothing at all
            half = connect(port)
            half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers never completed
            kept = connect(port)  # a whole request, then silence on the kept-alive connection
            kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            for name, connection in (("idle", idle), ("half-sent headers", half), ("keep-alive", kept)):
                received = closed_by_server(connection)
                connection.close()
                assert received is not None, f"{service.name}: a {name} connection was never closed"
                if name != "keep-alive":
                    assert received.startswith(b"HTTP/1.1 408"), (name, received[:100])
                else:
                    assert received.startswith(b"HTTP/1.1 200"), received[:100]
            assert service.alive()

        body = envelope("SMEWithdrawn", {}).__repr__().encode()  # any bytes: the body never arrives whole
        head = f"Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
        answer = trickled(gateway_port, f"POST /v1/events HTTP/1.1\r\nHost: x\r\n{head}", body)
        assert answer.startswith(b"HTTP/1.1 408"), f"a trickled body was not cut: {answer[:200]!r}"
        assert gateway.alive()
        # the query API's writes (a snooze) read their body within the same deadline
        snooze = "PUT /v1/partners/tehnopol/pilots/p-1/snooze HTTP/1.1\r\nHost: x\r\n"
        answer = trickled(query_port, snooze + head, b'{"until": "2020-03-01T00:00:00Z"}' * 4)
        assert answer.startswith(b"HTTP/1.1 408"), f"a trickled snooze body was not cut: {answer[:200]!r}"
        assert query.alive()


def trickled(port: int, head: str, body: bytes) -> bytes:
    """What the server answers to a request whose body is sent one byte every 0.5 s (as in the
    review), until it answers or closes; b"" if it never did within GIVE_UP."""
    trickle = connect(port)
    trickle.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
    answer, started = b"", time.monotonic()
    for byte in body:
        if answer or time.monotonic() - started > GIVE_UP:
            break
        try:
            trickle.sendall(bytes([byte]))
        except OSError:
            break
        trickle.settimeout(0.5)
        try:
            answer += trickle.recv(4096)
        except TimeoutError:
            continue
    trickle.close()
    return answer


def test_past_the_connection_limit_a_client_gets_a_json_503_with_retry_after(
    isolated: Settings, tmp_path: Path
) -> None:
    gateway_port, query_port, limit = free_port(), free_port(), 2
    env = service_environment(
        isolated,
        CRM_GATEWAY_PORT=str(gateway_port),
        CRM_QUERY_PORT=str(query_port),
        CRM_HTTP_MAX_CONNECTIONS=str(limit),
        CRM_HTTP_HEADER_TIMEOUT=str(GIVE_UP * 2),  # the connections holding the limit stay open
        CRM_GATEWAY_RETRY_AFTER="7",
        CRM_QUERY_RETRY_AFTER="9",  # each service its own
    )
    logs = tmp_path / "logs"
    with (
        ServiceProcess("gateway", ["gateway", "run"], env, logs / "gateway.log") as gateway,
        ServiceProcess("query", ["query", "run"], env, logs / "query.log") as query,
    ):
        for service, port, retry_after in ((gateway, gateway_port, "7"), (query, query_port, "9")):
            url = f"http://127.0.0.1:{port}/health"
            assert wait_until(lambda u=url: _answers(u), 90, interval=0.3), service.log_path.read_text()[-3000:]
            holding = [connect(port) for _ in range(limit)]  # open, sending nothing yet
            try:
                over = connect(port)
                over.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                received = closed_by_server(over)  # answered, then closed (as uvicorn's own 503)
                over.close()
                assert received is not None, f"{service.name}: the connection past the limit stayed open"
                head, _, body = received.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in lines[1:])}
                assert lines[0].startswith("HTTP/1.1 503"), received[:300]
                assert headers.get("content-type") == "application/problem+json", received[:300]
                assert headers.get("retry-after") == retry_after, received[:300]
                problem = json.loads(body)
                assert problem["status"] == 503 and problem["title"] == "Service Unavailable", problem
                assert f"limit of {limit}" in problem["detail"], problem
                # the connections within the limit are served
                holding[0].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                served = closed_by_server(holding[0])
                assert served is not None and served.startswith(b"HTTP/1.1 200"), served
            finally:
                for connection in holding:
                    connection.close()
            # once they are gone, new clients are served again
            assert wait_until(lambda u=url: _answers(u), 30, interval=0.2), f"{service.name} stayed over its limit"
            assert service.alive()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
