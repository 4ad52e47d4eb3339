"""The life of an older contract version: deprecation headers, sunset refusals, sunset settings."""

from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

import pytest

from crm.contract.decoding import OLDER_VERSIONS
from crm.contract.events import SCHEMA_VERSION
from crm.contract.lifecycle import SUPERSEDED_ON, Refusal, VersionPolicy, check_sunsets, start_of

SUNSET = date(2027, 6, 30)


def test_every_older_supported_version_says_when_it_was_superseded() -> None:
    assert set(SUPERSEDED_ON) == set(OLDER_VERSIONS)
    assert SCHEMA_VERSION not in SUPERSEDED_ON


def test_a_version_is_refused_from_the_start_of_its_sunset_day_on() -> None:
    policy = VersionPolicy({1: SUNSET})
    versions = [2, 1, 2, 1]
    assert policy.refusals(versions, date(2027, 6, 29)) == []
    refused = policy.refusals(versions, SUNSET)
    assert [r.index for r in refused] == [1, 3]
    assert refused[0] == Refusal(
        1,
        "schema_version 1 is no longer accepted: its sunset was 2027-06-30; send schema_version 2 "
        "(docs/contract.md, Versions)",
    )
    assert policy.refusals(versions, date(2030, 1, 1)) == refused


def test_without_a_sunset_every_supported_version_is_accepted_for_ever() -> None:
    assert VersionPolicy().refusals([1, 1, 2], date(2099, 1, 1)) == []


def test_the_headers_are_rfc_9745_and_rfc_8594_and_only_for_older_versions() -> None:
    assert VersionPolicy({1: SUNSET}).headers({SCHEMA_VERSION}) == {}
    assert VersionPolicy().headers(set()) == {}
    headers = VersionPolicy({1: SUNSET}).headers({1, 2})
    # RFC 9745: a structured-field Date, "@" and integer Unix seconds.
    deprecation = headers["Deprecation"]
    assert deprecation.startswith("@") and deprecation[1:].isdigit()
    assert datetime.fromtimestamp(int(deprecation[1:]), UTC) == start_of(SUPERSEDED_ON[1])
    # RFC 8594: an HTTP-date (IMF-fixdate, GMT).
    assert headers["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert parsedate_to_datetime(headers["Sunset"]) == datetime(2027, 6, 30, tzinfo=UTC)
    assert "Sunset" not in VersionPolicy().headers({1})


@pytest.mark.parametrize("version", [SCHEMA_VERSION, 0, 99])
def test_a_sunset_is_only_for_an_older_version(version: int) -> None:
    with pytest.raises(ValueError, match=f"not for {version}"):
        check_sunsets({version: SUNSET})
    assert check_sunsets({1: SUNSET}) == {1: SUNSET}
