"""The life of an older contract version: deprecated since its successor shipped, refused after its sunset.

A version older than the current one is *deprecated* from the day the next version was released
(`SUPERSEDED_ON`, part of the contract). A deployment may give it a *sunset* (`CRM_CONTRACT_SUNSETS`):
from the start of that day (UTC) the gateway refuses it with a 422 naming the version to send;
before it, every 202 for an event of that version carries `Deprecation` (RFC 9745) and, when a
sunset is set, `Sunset` (RFC 8594) response headers. docs/contract.md "Versions" is the policy.

Pure: the caller passes today's date.
"""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email.utils import format_datetime

from crm.contract.events import SCHEMA_VERSION

SUPERSEDED_ON: Mapping[int, date] = {1: date(2026, 12, 3)}
"""Per older `schema_version`, the day the next version was released (and it became deprecated)."""


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def check_sunsets(sunsets: Mapping[int, date]) -> dict[int, date]:
    """The sunsets, or ValueError when one names the current version or one that never existed."""
    wrong = sorted(version for version in sunsets if version not in SUPERSEDED_ON)
    if wrong:
        older = ", ".join(str(version) for version in sorted(SUPERSEDED_ON)) or "none"
        raise ValueError(
            f"a sunset is for an older contract version ({older}; the current one is {SCHEMA_VERSION}), "
            f"not for {', '.join(str(version) for version in wrong)}"
        )
    return dict(sunsets)


@dataclass(frozen=True, slots=True)
class Refusal:
    """One event of a version past its sunset: where in the request, and what to tell the sender."""

    index: int
    message: str


@dataclass(frozen=True, slots=True)
class VersionPolicy:
    """The deployment's sunsets (`{1: date(2027, 6, 30)}`); no sunset means accepted for ever."""

    sunsets: Mapping[int, date] = field(default_factory=dict)

    def refusals(self, versions: Iterable[int], today: date) -> list[Refusal]:
        """The events (by their written versions, in request order) past their version's sunset."""
        if not self.sunsets:
            return []
        return [
            Refusal(
                index,
                f"schema_version {version} is no longer accepted: its sunset was {self.sunsets[version].isoformat()}; "
                f"send schema_version {SCHEMA_VERSION} (docs/contract.md, Versions)",
            )
            for index, version in enumerate(versions)
            if version in self.sunsets and today >= self.sunsets[version]
        ]

    def headers(self, versions: Collection[int]) -> dict[str, str]:
        """The response headers for a request whose events were written in `versions`: none when all
        are current, else those of its oldest version."""
        older = [version for version in versions if version in SUPERSEDED_ON]
        if not older:
            return {}
        oldest = min(older)
        headers = {"Deprecation": f"@{int(start_of(SUPERSEDED_ON[oldest]).timestamp())}"}
        sunset = self.sunsets.get(oldest)
        if sunset is not None:
            headers["Sunset"] = format_datetime(start_of(sunset), usegmt=True)
        return headers
