"""Whether a service starts on the schema it finds (crm/db/migrate.py `check_schema`)."""

import pytest

from crm.db.migrate import SchemaNotCurrent, SchemaRevision, check_schema

KNOWN = frozenset({"0001", "0002", "0003"})


def revision(*applied: str) -> SchemaRevision:
    return SchemaRevision(frozenset(applied), frozenset({"0003"}), KNOWN)


def test_the_current_schema_starts() -> None:
    check_schema(revision("0003"), "The gateway")


def test_a_schema_never_migrated_is_refused_naming_crm_db_upgrade() -> None:
    with pytest.raises(SchemaNotCurrent) as refused:
        check_schema(revision(), "The gateway")

    assert str(refused.value).startswith("The gateway refuses to start: the database schema is not migrated")
    assert "`crm db upgrade`" in str(refused.value)


def test_an_older_schema_is_refused_with_its_revision() -> None:
    with pytest.raises(SchemaNotCurrent, match="at revision 0002, this release needs 0003"):
        check_schema(revision("0002"), "The projector")


def test_a_schema_a_newer_release_migrated_is_accepted() -> None:
    check_schema(revision("0004"), "The query service")
