"""Bearer tokens: created once and shown once, stored as SHA-256 hashes, verified in constant time.

A token reads `crm_<id>_<secret>`. The id (public, shown by `crm tokens list`) finds the row;
the SHA-256 of the whole token is compared with `hmac.compare_digest`. The token itself is never
stored nor logged.

Verification is on the hot path of every request, so verified tokens are cached in memory for
`ttl` seconds (`CRM_TOKEN_CACHE_SECONDS`, default 5): a revoked token stops working in every
process within that delay. Unknown or revoked tokens are not cached.
"""

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.auth.principals import Principal, Role
from crm.db.tables import api_tokens


class TokenStoreUnavailable(Exception):
    """The token table could not be read (PostgreSQL away): the token is neither valid nor invalid."""


TOKEN_PREFIX = "crm_"
_MAX_TOKEN_LENGTH = 200
_MAX_CACHED = 10_000


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What `crm tokens list` shows: everything but the secret."""

    id: str
    role: Role
    partner_id: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh (token id, token)."""
    token_id = uuid.uuid4().hex[:16]
    return token_id, f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def token_id_of(token: str) -> str | None:
    """The id part of a well-formed token, else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        return None
    token_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not secret or len(token_id) != 16:
        return None
    return token_id


class TokenStore:
    """Tokens in PostgreSQL (`api_tokens`), with a short-lived cache of verified ones."""

    def __init__(self, engine: AsyncEngine, *, ttl: float = 5.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._cache: dict[str, tuple[str, Principal, float]] = {}

    async def close(self) -> None:
        await self._engine.dispose()

    async def create(self, role: Role, partner_id: str | None = None, label: str | None = None) -> tuple[str, str]:
        """Store a new token's hash; return (token id, token). The token cannot be shown again."""
        if (role == "partner") != (partner_id is not None):
            raise ValueError("a partner token needs a partner id; an analyst token has none")
        token_id, token = new_token()
        async with self._engine.begin() as connection:
            await connection.execute(
                api_tokens.insert().values(
                    id=token_id, role=role, partner_id=partner_id, token_hash=hash_token(token), label=label
                )
            )
        return token_id, token

    async def list(self) -> list[TokenRecord]:
        query = select(
            api_tokens.c.id,
            api_tokens.c.role,
            api_tokens.c.partner_id,
            api_tokens.c.label,
            api_tokens.c.created_at,
            api_tokens.c.revoked_at,
        ).order_by(api_tokens.c.created_at)
        async with self._engine.connect() as connection:
            return [TokenRecord(**row._mapping) for row in await connection.execute(query)]

    async def revoke(self, token_id: str) -> bool:
        """Mark the token revoked; False when there is no such active token."""
        statement = (
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now().astimezone())
        )
        async with self._engine.begin() as connection:
            revoked = (await connection.execute(statement)).rowcount > 0
        self._cache.pop(token_id, None)
        return revoked

    async def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token, else None."""
        token_id = token_id_of(token)
        if token_id is None:
            return None
        presented = hash_token(token)
        cached = self._cache.get(token_id)
        if cached is not None and cached[2] > time.monotonic():
            return cached[1] if hmac.compare_digest(cached[0], presented) else None
        query = select(api_tokens.c.token_hash, api_tokens.c.role, api_tokens.c.partner_id).where(
            api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None)
        )
        try:
            async with self._engine.connect() as connection:
                row = (await connection.execute(query)).first()
        except (OSError, TimeoutError, SQLAlchemyError) as error:
            # Not "unknown token": a 401 would tell the partner to stop; this is worth a retry.
            raise TokenStoreUnavailable(repr(error)) from error
        if row is None:
            self._cache.pop(token_id, None)
            return None
        if not hmac.compare_digest(row.token_hash, presented):
            return None
        principal = Principal(token_id=token_id, role=row.role, partner_id=row.partner_id)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[token_id] = (row.token_hash, principal, time.monotonic() + self._ttl)
        return principal
