"""The gateway's copy of the programmes' partners, read again every `CRM_PROGRAMME_CACHE_SECONDS`.

A request never waits on the database for it: the copy is read once when the gateway starts,
then again in the background every `refresh` seconds, so a programme applied with
`crm programme apply` is taken (or its partners changed) within that delay, without a restart.
When PostgreSQL is away, the last copy read is kept and used; only while no copy was ever read
(the database away since the gateway started) does `current` try to read one itself, and raise
`ProgrammesUnavailable` (a 503 with Retry-After) when it cannot.
"""

import asyncio
import contextlib
import time

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db.failures import is_database_failure
from crm.programmes.membership import Memberships, read_memberships

log = structlog.get_logger(__name__)

READ_TIMEOUT = 5.0
"""Seconds one read of the programmes may take before it counts as the database being away."""


class ProgrammesUnavailable(RuntimeError):
    """The programmes were never read and the database does not answer: the sender should retry."""


class RefreshedMemberships:
    """`Memberships` kept in memory, refreshed in the background (`start` ... `stop`)."""

    def __init__(self, engine: AsyncEngine, default_programme: str, *, refresh: float = 5.0) -> None:
        if refresh <= 0:
            raise ValueError("the programmes' refresh interval must be positive")
        self._engine = engine
        self._default_programme = default_programme
        self._refresh = refresh
        self._memberships: Memberships | None = None
        self._read_at: float | None = None
        self._first_read = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def age(self) -> float | None:
        """Seconds since the copy in use was read; None before any was."""
        return None if self._read_at is None else time.monotonic() - self._read_at

    async def start(self) -> None:
        """Read the programmes (a failure is logged, not raised: the gateway starts without
        PostgreSQL too) and keep reading them every `refresh` seconds."""
        with contextlib.suppress(ProgrammesUnavailable):
            await self.read()
        self._task = asyncio.create_task(self._keep_reading(), name="programme-memberships")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def current(self) -> Memberships:
        """The copy in use; the first one read now when there is none yet."""
        memberships = self._memberships
        if memberships is not None:
            return memberships
        async with self._first_read:  # concurrent requests share one read
            if self._memberships is None:
                return await self.read()
            return self._memberships

    async def read(self) -> Memberships:
        """Read the programmes now and use them; ProgrammesUnavailable (the copy kept) on failure."""
        try:
            async with asyncio.timeout(READ_TIMEOUT), self._engine.connect() as connection:
                memberships = await read_memberships(connection, self._default_programme)
        except Exception as error:
            if not isinstance(error, TimeoutError) and not is_database_failure(error):
                raise
            log.warning(
                "gateway.programmes_unavailable",
                error=repr(error),
                kept_copy_age=None if self.age is None else round(self.age, 1),
            )
            raise ProgrammesUnavailable(repr(error)) from error
        self._memberships, self._read_at = memberships, time.monotonic()
        return memberships

    async def _keep_reading(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self.read()
            except ProgrammesUnavailable:
                continue  # logged; the copy read before stays in use
            except Exception:  # a bug must not stop the refreshes for the gateway's lifetime
                log.exception("gateway.programmes_refresh_failed")
