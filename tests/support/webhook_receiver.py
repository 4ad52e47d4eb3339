"""A partner's webhook on 127.0.0.1: verifies the signature, accepts each alert once by its key.

A Starlette app under uvicorn, in the test's own event loop; its socket is bound and listening
when `start` returns, so a delivery from then on reaches it.
"""

import asyncio
import socket
from collections import Counter

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm.alerts.webhooks import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WebhookReceiver:
    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.secret = secret
        self.accepted: dict[str, bytes] = {}  # idempotency key -> body, first delivery only
        self.deliveries: Counter[str] = Counter()  # every 2xx-answered POST per key
        self.bad_signatures = 0
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/alerts"

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        if not verify_signature(body, self.secret, request.headers.get(SIGNATURE_HEADER)):
            self.bad_signatures += 1
            return Response(status_code=401)
        key = request.headers[IDEMPOTENCY_HEADER]
        self.deliveries[key] += 1
        self.accepted.setdefault(key, body)
        return Response(status_code=204)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hooks/alerts", self.receive, methods=["POST"])])
        listening = socket.socket()
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(("127.0.0.1", self.port))
        listening.listen()
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[listening]))

    async def stop(self) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
            self._server = self._serving = None
