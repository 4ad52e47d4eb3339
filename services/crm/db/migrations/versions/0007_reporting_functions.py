"""Partners' SQL logins read through functions that leak nothing through the planner.

Before, a partner login read `security_invoker` views over the base tables, filtered by row-level
security. The planner showed what the filter removed: with `enable_seqscan = off`, `EXPLAIN
ANALYZE` on a range of another partner's ids said "Rows Removed by Filter: N", enough to
enumerate them; and `reporting.partner_of(role)` answered for any role.

Now each `reporting.<view>` is `SELECT * FROM reporting.<view>_rows()`, a SECURITY DEFINER
function (never inlined, so a plan shows a Function Scan and nothing inside it) returning the
rows of `reporting_private.<view>` (the former view, owned by the schema's owner, which partners
cannot reach) of the caller's partner only: `reporting.my_partner()`, the partner of the session's
login, takes no argument. Partner logins lose every grant on the base tables; the row-level
security policies go with them. docs/sql-access.md says what PostgreSQL still reveals.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "crm_partner_reader"
VIEWS = ("smes", "sme_markets", "pilots", "agreements", "alerts", "sme_timeline")
TABLES = ("smes", "sme_markets", "pilots", "agreements", "sme_timeline", "alerts")
_DEFINER = "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp"


def upgrade() -> None:
    op.execute("CREATE SCHEMA reporting_private")
    op.execute(
        "COMMENT ON SCHEMA reporting_private IS 'Every partner''s rows behind the reporting views; "
        "partner logins reach them only through reporting.<view>_rows() (migration 0007)'"
    )
    op.execute(f"""
        CREATE FUNCTION reporting.my_partner() RETURNS varchar {_DEFINER} AS
        $$ SELECT partner_id FROM reporting.partner_roles WHERE role_name = session_user $$""")
    op.execute("COMMENT ON FUNCTION reporting.my_partner() IS 'The partner whose rows this login reads'")
    op.execute("REVOKE ALL ON FUNCTION reporting.my_partner() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION reporting.my_partner() TO {READER}")
    for name in VIEWS:
        op.execute(f"REVOKE ALL ON reporting.{name} FROM {READER}")
        op.execute(f"ALTER VIEW reporting.{name} SET SCHEMA reporting_private")
        op.execute(f"ALTER VIEW reporting_private.{name} RESET (security_invoker)")  # reads as its owner
        op.execute(f"""
            CREATE FUNCTION reporting.{name}_rows() RETURNS SETOF reporting_private.{name} {_DEFINER} AS
            $$ SELECT * FROM reporting_private.{name} WHERE partner_id = reporting.my_partner() $$""")
        op.execute(f"REVOKE ALL ON FUNCTION reporting.{name}_rows() FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION reporting.{name}_rows() TO {READER}")
        op.execute(f"CREATE VIEW reporting.{name} AS SELECT * FROM reporting.{name}_rows()")
        op.execute(f"""
            DO $$ BEGIN
                EXECUTE format('COMMENT ON VIEW reporting.{name} IS %L',
                               obj_description('reporting_private.{name}'::regclass, 'pg_class'));
            END $$""")
        op.execute(f"GRANT SELECT ON reporting.{name} TO {READER}")
    for table in TABLES:
        op.execute(f"REVOKE SELECT ON public.{table} FROM {READER}")
        op.execute(f"DROP POLICY partner_rows ON public.{table}")
        op.execute(f"ALTER TABLE public.{table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION reporting.partner_of(name)")


def downgrade() -> None:
    op.execute("""
        CREATE FUNCTION reporting.partner_of(role_name name) RETURNS varchar
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS
        $$ SELECT partner_id FROM reporting.partner_roles WHERE partner_roles.role_name = $1 $$""")
    op.execute("REVOKE ALL ON FUNCTION reporting.partner_of(name) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION reporting.partner_of(name) TO {READER}")
    for table in TABLES:
        op.execute(f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY partner_rows ON public.{table} FOR SELECT TO {READER} "
            "USING (partner_id = (SELECT reporting.partner_of(current_user)))"
        )
        op.execute(f"GRANT SELECT ON public.{table} TO {READER}")
    for name in VIEWS:
        op.execute(f"DROP VIEW reporting.{name}")
        op.execute(f"DROP FUNCTION reporting.{name}_rows()")
        op.execute(f"ALTER VIEW reporting_private.{name} SET (security_invoker = true)")
        op.execute(f"ALTER VIEW reporting_private.{name} SET SCHEMA reporting")
        op.execute(f"GRANT SELECT ON reporting.{name} TO {READER}")
    op.execute("DROP FUNCTION reporting.my_partner()")
    op.execute("DROP SCHEMA reporting_private")
