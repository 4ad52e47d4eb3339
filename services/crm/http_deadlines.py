"""uvicorn's HTTP protocol with a deadline for request headers (uvicorn has none of its own).

Without it a client that opens a connection and sends nothing, or half a request line, holds the
connection (and its memory) for as long as it likes; a few hundred such clients exhaust the
service. uvicorn's `timeout_keep_alive` only starts after a response.

The same protocol counts the open connections for the concurrency limit (`crm/http_concurrency.py`).
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from crm.http_concurrency import Load

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def header_deadline_protocol(header_timeout: float, load: Load | None = None) -> type[asyncio.Protocol]:
    """An `HttpToolsProtocol` that closes a connection (with a 408) whose request headers are
    not complete `header_timeout` seconds after it opened or after its request began; it counts
    its open connections in `load.connections`."""
    counts = load if load is not None else Load()

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _counted = False

        def connection_made(self, transport: Any) -> None:
            counts.connections += 1
            self._counted = True
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._counted:
                counts.connections -= 1
                self._counted = False
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.write(_TIMED_OUT)
                self.transport.close()

    return HeaderDeadlineProtocol
