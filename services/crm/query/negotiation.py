"""Which representation a request asks for: the `Accept` header (RFC 9110 §12.5.1), parsed properly.

Pure: no I/O, no framework. Each offered media type gets the quality of the most specific media
range that matches it (`text/csv;charset=utf-8` before `text/csv` before `text/*` before `*/*`);
the highest quality above 0 wins, ties going to the server's order of preference. A range whose
parameters the offered type does not carry does not match it (`text/csv;charset=latin-1` is not
our UTF-8 CSV). An element that cannot be parsed is ignored, as an unparsable header is: clients
send all sorts, and a bad header should not cost them the default representation.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from crm.query.spreadsheets import XLSX_MEDIA_TYPE

OutputFormat = Literal["json", "csv", "xlsx"]
MEDIA_TYPES: dict[OutputFormat, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": XLSX_MEDIA_TYPE,
}

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One element of an Accept header, lower-cased (parameter values too: ours are all tokens)."""

    type: str
    subtype: str
    parameters: tuple[tuple[str, str], ...] = ()
    quality: float = 1.0

    @property
    def specificity(self) -> int:
        if self.type == "*":
            return 0
        if self.subtype == "*":
            return 1
        return 3 if self.parameters else 2

    def matches(self, offered: "MediaType") -> bool:
        if self.type != "*" and self.type != offered.type:
            return False
        if self.subtype != "*" and self.subtype != offered.subtype:
            return False
        return all(offered.parameters.get(name) == value for name, value in self.parameters)


@dataclass(frozen=True, slots=True)
class MediaType:
    """A media type the server can send: `text/csv; charset=utf-8`."""

    type: str
    subtype: str
    parameters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "MediaType":
        found = _media_range(text)
        if found is None or "*" in (found.type, found.subtype):
            raise ValueError(f"not a media type: {text!r}")
        return cls(found.type, found.subtype, dict(found.parameters))


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an Accept header, in the order given; unparsable elements left out."""
    ranges = []
    for element in _split(header, ","):
        found = _media_range(element)
        if found is not None:
            ranges.append(found)
    return ranges


def negotiate(accept: str | None, offered: Sequence[str]) -> str | None:
    """The offered media type (as given) the header prefers, or None when it accepts none of them.

    No header, an empty one, or one with no element we can read: the first offered (RFC 9110: no
    Accept means any media type is acceptable).
    """
    ranges = parse_accept(accept) if accept else []
    if not ranges:
        return offered[0] if offered else None
    best: tuple[float, int] | None = None
    chosen = None
    for preference, text in enumerate(offered):
        quality = _quality(ranges, MediaType.parse(text))
        if quality <= 0:
            continue
        rank = (quality, -preference)
        if best is None or rank > best:
            best, chosen = rank, text
    return chosen


def _quality(ranges: Sequence[MediaRange], offered: MediaType) -> float:
    matching = [r for r in ranges if r.matches(offered)]
    if not matching:
        return 0.0
    # The most specific range decides, even when a vaguer one would give more (`*/*, text/csv;q=0`).
    most = max(r.specificity for r in matching)
    return max(r.quality for r in matching if r.specificity == most)


def _media_range(text: str) -> MediaRange | None:
    parts = _split(text, ";")
    if not parts:
        return None
    kind, slash, subtype = parts[0].strip().lower().partition("/")
    if not slash or not _token(kind) or not _token(subtype) or (kind == "*" and subtype != "*"):
        return None
    parameters: list[tuple[str, str]] = []
    quality = 1.0
    for part in parts[1:]:
        raw_name, equals, raw_value = part.strip().partition("=")
        name, value = raw_name.strip().lower(), _unquoted(raw_value.strip())
        if not equals or not _token(name) or value is None:
            return None
        if name == "q":
            parsed = _qvalue(value)
            if parsed is None:
                return None
            quality = parsed
            break  # what follows q are accept-extensions, which say nothing about the type
        parameters.append((name, value.lower()))
    return MediaRange(kind, subtype, tuple(parameters), quality)


def _qvalue(text: str) -> float | None:
    # qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    whole, _, decimals = text.partition(".")
    if whole not in ("0", "1") or len(decimals) > 3 or not all(c.isdigit() for c in decimals):
        return None
    if whole == "1" and decimals.strip("0"):
        return None
    return float(f"{whole}.{decimals or 0}")


def _token(text: str) -> bool:
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def _unquoted(text: str) -> str | None:
    if not text.startswith('"'):
        return text if _token(text) else None
    if len(text) < 2 or not text.endswith('"'):
        return None
    inner, out, escaped = text[1:-1], [], False
    for char in inner:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


def _split(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside quoted strings; empty elements dropped."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


@dataclass(frozen=True, slots=True)
class Representation:
    """What to answer with: JSON, CSV (`bom`: after a UTF-8 byte-order mark, for Excel) or XLSX;
    `whole`: a list's every row, streamed, instead of one page."""

    format: OutputFormat = "json"
    bom: bool = False
    whole: bool = False

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def tag(self) -> str:
        """What tells this representation's bytes from another's, for entity tags: `csv+bom`."""
        return f"{self.format}+bom" if self.bom and self.format == "csv" else self.format


class ConflictingRepresentation(ValueError):
    """`format=json` with `all=true`: a whole list is an export, JSON comes in pages."""


def chosen_representation(
    format: OutputFormat | None, accept: str | None, *, bom: bool = False, whole: bool = False
) -> Representation | None:
    """`format` when given (it overrides Accept), else the Accept header's choice among what is
    offered: JSON, CSV and XLSX, or for a whole list CSV and XLSX. None: nothing offered is
    acceptable (a 406)."""
    if format is not None:
        if whole and format == "json":
            raise ConflictingRepresentation("all=true exports CSV or XLSX (format=csv or xlsx); JSON comes in pages")
        return Representation(format, bom, whole)
    chosen = negotiate(accept, offered_media_types(whole=whole))
    if chosen is None:
        return None
    return Representation(next(f for f, media in MEDIA_TYPES.items() if media == chosen), bom, whole)


def offered_media_types(*, whole: bool = False) -> list[str]:
    """What `chosen_representation` offers, in the server's order of preference (and for a 406)."""
    return [MEDIA_TYPES[f] for f in get_args(OutputFormat) if not (whole and f == "json")]
