"""Keyset pagination: a stable order and an opaque cursor naming the last row served."""

import base64
import json
from typing import Any


class BadCursor(ValueError):
    """The `cursor` parameter was not produced by this API."""


def encode_cursor(key: tuple[Any, ...]) -> str:
    raw = json.dumps(list(key), default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> tuple[Any, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("cursor is not valid; use the `next` value of a previous page") from exc
    if not isinstance(key, list) or len(key) != arity or not all(isinstance(k, str | int | float) for k in key):
        raise BadCursor("cursor is not valid; use the `next` value of a previous page")
    if not all(_INT64_MIN <= k <= _INT64_MAX for k in key if isinstance(k, int)):
        raise BadCursor("cursor is not valid; use the `next` value of a previous page")  # no offset is that large
    if not all(_storable(k) for k in key if isinstance(k, str)):
        # A NUL or a lone surrogate cannot be sent to PostgreSQL as text: no row could have it.
        raise BadCursor("cursor is not valid; use the `next` value of a previous page")
    return tuple(key)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
