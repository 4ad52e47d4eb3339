"""The operations listener of the services without an HTTP app (projector, alerts service):
`GET /metrics`, `/health` and `/ready` on a small asyncio server, loopback by default.

Not a general HTTP server: one GET per connection, answered and closed (Prometheus and probes
need nothing more), request heads of at most 8 KiB read within 5 seconds. No framework: the
projector needs none, and Faust's web server cannot be told apart from its own routes.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import orjson
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from crm.errors import InfrastructureError
from crm.observability.readiness import Readiness

log = structlog.get_logger(__name__)

HEAD_LIMIT = 8192
HEAD_SECONDS = 5.0


class OperationsListener:
    """Serves the probes and the metrics on `host:port` (port 0: a free one, see `port`) once started.

    `before_scrape` refreshes gauges read from elsewhere (the alerts read model) before `/metrics`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        readiness: Readiness,
        *,
        before_scrape: Callable[[], Awaitable[object]] | None = None,
        service: str,
    ) -> None:
        self._host = host
        self._port = port
        self._readiness = readiness
        self._before_scrape = before_scrape
        self._service = service
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._answer, self._host, self._port)
        except OSError as error:  # the port taken, the address not this host's
            raise InfrastructureError(
                f"The {self._service}'s operations listener cannot listen on {self._host}:{self._port}: {error}."
            ) from error
        log.info("operations.listening", service=self._service, host=self._host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            status, content_type, body = await self.respond(head)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            status, content_type, body = "400 Bad Request", "text/plain", b"bad request\n"
        try:
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def respond(self, head: bytes) -> tuple[str, str, bytes]:
        """The status line's tail, the content type and the body for a request head."""
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(request_line) != 3 or len(head) > HEAD_LIMIT:
            return "400 Bad Request", "text/plain", b"bad request\n"
        method, target, _ = request_line
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == "/health":
            return "200 OK", "application/json", orjson.dumps({"status": "ok"})
        if path == "/ready":
            ready, parts = await self._readiness.check()
            body = orjson.dumps({"status": "ready" if ready else "not ready", **parts})
            return ("200 OK" if ready else "503 Service Unavailable"), "application/json", body
        if path == "/metrics":
            await self._readiness.check()
            if self._before_scrape is not None:
                try:
                    await self._before_scrape()
                except Exception as error:  # the database away: the other figures still count
                    log.warning("operations.scrape_refresh_failed", service=self._service, error=repr(error))
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
        return "404 Not Found", "text/plain", b"not found: /metrics, /health, /ready\n"
