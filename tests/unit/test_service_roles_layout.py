"""The SQL of the least-privilege layout (crm/db/roles.py), as `crm db roles` prints it."""

from crm.db.roles import SERVICE_ROLES, grants_sql, layout_sql


def test_the_script_creates_each_group_role_nologin_and_grants_it_only_its_tables() -> None:
    script = layout_sql()

    for role in SERVICE_ROLES:
        assert f"CREATE ROLE {role.name} NOLOGIN" in script
        granted = {line.split(" ON public.")[1].split(" TO ")[0] for line in grants_sql(role) if " ON public." in line}
        assert granted == {*role.rights, "alembic_version"}


def test_tables_an_older_revision_lacks_are_left_out() -> None:
    gateway = next(role for role in SERVICE_ROLES if role.name == "crm_gateway")

    statements = grants_sql(gateway, frozenset({"api_tokens", "alembic_version"}))

    assert "GRANT SELECT ON public.api_tokens TO crm_gateway" in statements
    assert not any("accepted_events" in statement for statement in statements)


def test_no_service_role_may_write_another_services_tables() -> None:
    writers: dict[str, set[str]] = {}
    for role in SERVICE_ROLES:
        for table, privileges in role.rights.items():
            if set(privileges) - {"SELECT"}:
                writers.setdefault(table, set()).add(role.name)
    # The query API's snooze and acknowledgement (crm/alerts/controls.py) are the one shared write.
    shared = {table: roles for table, roles in writers.items() if len(roles) > 1}
    assert shared == {"alerts": {"crm_query", "crm_alerts"}}
