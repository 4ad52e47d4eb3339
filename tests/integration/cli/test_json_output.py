"""`--json` of the listing commands is one JSON document (the same rows as the table, whose first
line is its header), on the real PostgreSQL."""

import json

from crm.settings import Settings
from tests.support.cli import run_crm


def test_tokens_list_as_json_and_as_a_table_with_a_header(isolated: Settings) -> None:
    created = run_crm(isolated, "tokens", "create", "--partner", "tehnopol", "--label", "Härmälä's feed")
    assert created.returncode == 0, created.stderr
    assert run_crm(isolated, "tokens", "create", "--analyst").returncode == 0

    listed = run_crm(isolated, "tokens", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["role"], r["partner_id"], r["label"], r["revoked_at"]) for r in rows] == [
        ("partner", "tehnopol", "Härmälä's feed", None),
        ("analyst", None, None, None),
    ]
    assert created.stdout.startswith(f"crm_{rows[0]['id']}_")

    assert run_crm(isolated, "tokens", "revoke", rows[1]["id"]).returncode == 0
    header, *table = run_crm(isolated, "tokens", "list").stdout.splitlines()
    assert header.split("\t") == ["id", "role", "partner", "created", "revoked", "label"]
    assert [line.split("\t")[0] for line in table] == [r["id"] for r in rows]
    assert table[1].split("\t")[4] != "active"


def test_empty_listings_are_empty_json_documents(isolated: Settings) -> None:
    for args in (["alerts", "list", "--json"], ["alerts", "list", "--partner", "tehnopol", "--json"]):
        listed = run_crm(isolated, *args)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == []
    assert json.loads(run_crm(isolated, "programme", "show", "--json").stdout) == []
    status = run_crm(isolated, "status", "--json")
    assert status.returncode == 0, status.stderr
    body = json.loads(status.stdout)
    assert body["applied_events"] == 0 and body["old_contract_versions"] == []
