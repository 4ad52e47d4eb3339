"""A partner's webhook on 127.0.0.1: verifies the signature, accepts each alert once by its key."""

import socket
from collections import Counter

from aiohttp import web

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
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/alerts"

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature(body, self.secret, request.headers.get(SIGNATURE_HEADER)):
            self.bad_signatures += 1
            return web.Response(status=401)
        key = request.headers[IDEMPOTENCY_HEADER]
        self.deliveries[key] += 1
        self.accepted.setdefault(key, body)
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/alerts", self.receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
