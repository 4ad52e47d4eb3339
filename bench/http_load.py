"""A lean HTTP/1.1 client for load: keep-alive connections and pre-built requests.

httpx costs more CPU per request than the servers under test; on a shared 2-core machine the load
generator must stay small, so requests are raw bytes and only the status line and length are read.
"""

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def post_events(port: int, token: str, events: list[dict[str, Any]], *, single: bool) -> bytes:
    """A ready-to-send `POST /v1/events` with these events (one envelope when `single`)."""
    body = json.dumps(events[0] if single else events, separators=(",", ":")).encode()
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def get(port: int, token: str, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> int:
        """Send one request, read the whole response, return its status code."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class ConnectionPool:
    """A fixed set of keep-alive connections; a request waits for a free one."""

    def __init__(self, port: int, size: int) -> None:
        self.port, self.size = port, size
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()

    async def __aenter__(self) -> "ConnectionPool":
        for _ in range(self.size):
            self._idle.put_nowait(await Connection.open(self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()

    async def exchange(self, request: bytes) -> int:
        connection = await self._idle.get()
        try:
            status = await connection.exchange(request)
        except (OSError, asyncio.IncompleteReadError):
            connection.close()
            self._idle.put_nowait(await Connection.open(self.port))
            raise
        self._idle.put_nowait(connection)
        return status


async def open_loop(total: int, rate: float, send: Callable[[int, float], Coroutine[Any, Any, None]]) -> float:
    """Start `send(i, due)` for i in range(total), one every 1/rate s from now, whether or not the
    earlier ones have finished (open loop: a slow server does not slow the offered rate). Returns,
    once every one has finished, the instant the first was due (`time.perf_counter()`)."""
    start = time.perf_counter() + 0.05
    tasks: list[asyncio.Task[None]] = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i, due)))
    await asyncio.gather(*tasks)
    return start


async def wait_ready(port: int, path: str, alive: Any, timeout: float = 60.0) -> None:
    """Poll `path` until it answers 200; fail early when `alive()` turns False."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline and alive():
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"http://127.0.0.1:{port}{path}")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"nothing answered 200 on 127.0.0.1:{port}{path} within {timeout:.0f} s")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    if pid is None or not Path(f"/proc/{pid}/stat").exists():
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
