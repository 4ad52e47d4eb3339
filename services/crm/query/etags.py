"""Entity tags of the figures (KPIs, funnels, indicators) and `If-None-Match` (RFC 9110 §8.8.3, §13.1.2).

Pure: no I/O. A tag is derived from what the body is made of: the figures themselves (computed,
or taken from the figures cache, which is keyed by the database snapshot) and the representation
asked for, so it changes exactly when the answer would, whatever wrote to the database (the
projector, the alerts service, a programme's new targets). It is weak (`W/"…"`): the JSON body
also carries the freshness of the data, which moves on its own every few seconds, and an XLSX
file's bytes are not the point; a 304 says "what you have is still these figures".
"""

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson


def figures_etag(figures: Mapping[str, Any], representation: str) -> str:
    """The weak tag of `figures` as `representation` (e.g. `csv`, `csv+bom`, `json`)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(representation.encode())
    digest.update(b"\0")
    digest.update(orjson.dumps(figures, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS))
    return f'W/"{digest.hexdigest()}"'


def still_current(if_none_match: str | None, etag: str) -> bool:
    """True when the `If-None-Match` header names `etag` (weak comparison) or is `*`: the
    client's copy is current, answer 304. A header we cannot read names nothing."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(tag) == wanted for tag in _entity_tags(if_none_match))


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def _entity_tags(header: str) -> list[str]:
    # entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, in a comma-separated list; commas may sit
    # inside the quotes, so split on the quotes rather than on the commas.
    tags: list[str] = []
    rest = header.strip()
    while rest:
        weak = rest.startswith("W/")
        body = rest[2:] if weak else rest
        if not body.startswith('"'):
            return tags  # not an entity-tag: what follows cannot be read either
        end = body.find('"', 1)
        if end < 0:
            return tags
        tags.append(("W/" if weak else "") + body[: end + 1])
        rest = body[end + 1 :].lstrip()
        if rest.startswith(","):
            rest = rest[1:].lstrip()
        elif rest:
            return tags
    return tags
