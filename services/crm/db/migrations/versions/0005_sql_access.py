"""SQL access for partners: documented `reporting` views and row-level security per partner role.

A partner's analyst logs in as a PostgreSQL role (`crm sql grant --partner ID`) that is a member
of `crm_partner_reader`. Policies on the read-model tables let such a role see the rows of the
partner its name maps to in `reporting.partner_roles`, and nothing else. The services connect as
the tables' owner, to which row-level security does not apply (it is not FORCEd).

Revision ID: 0005
Revises: 0002 (read models), 0004 (alerts)
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
# Needs the read models (0002) and the alerts (0004); the lead re-chains the branches at merge.
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "crm_partner_reader"
PARTNER_TABLES = ("smes", "sme_markets", "pilots", "agreements", "sme_timeline", "alerts")
_PARTNER = "(SELECT reporting.partner_of(current_user))"

VIEWS = {
    "smes": (
        "One row per SME of the partner: profile, furthest funnel stage, when each stage was first "
        "reached (event time), withdrawal.",
        """SELECT partner_id, sme_id, name, country, sector, target_markets, stage, withdrawn,
                  matchmaking_at IS NOT NULL AS in_matchmaking,
                  selected_at, trained_at, met_at, piloting_at, agreement_at, matchmaking_at,
                  withdrawn_at, first_activity_at, last_activity_at
           FROM public.smes""",
    ),
    "sme_markets": (
        "An SME's funnel within one target market: first meeting, pilot, agreement, digital meeting there.",
        "SELECT partner_id, sme_id, market, met_at, piloting_at, agreement_at, matchmaking_at FROM public.sme_markets",
    ),
    "pilots": (
        "Pilots with their status (open, closed, unopened) and, when the alerts service reports them "
        "stalled, since when and how many days idle.",
        """SELECT p.partner_id, p.pilot_id, p.sme_id, p.status, p.market, p.region, p.counterpart, p.title,
                  p.opened_at, p.closed_at, p.outcome, p.last_activity_at, p.agreement_ids,
                  a.fired_at IS NOT NULL AS stalled, a.fired_at AS stalled_since, a.idle_days, a.threshold_days
           FROM public.pilots p
           LEFT JOIN LATERAL (
               SELECT fired_at, idle_days, threshold_days FROM public.alerts
               WHERE alerts.partner_id = p.partner_id AND alerts.pilot_id = p.pilot_id AND resolved_at IS NULL
               ORDER BY fired_at DESC LIMIT 1
           ) a ON true""",
    ),
    "agreements": (
        "Signed agreements: type, market, counterpart, linked pilot, value in EUR, signing time (event time).",
        """SELECT partner_id, agreement_id, sme_id, agreement_type, market, counterpart, pilot_id, value_eur, signed_at
           FROM public.agreements""",
    ),
    "alerts": (
        "Stalled-pilot alerts, one per stall; unresolved ones are the pilots stalled now.",
        """SELECT alert_id, partner_id, pilot_id, sme_id, fired_at, last_activity_at, idle_days, threshold_days,
                  reminders, resolved_at, acknowledged_at,
                  CASE WHEN resolved_at IS NOT NULL THEN 'resolved'
                       WHEN acknowledged_at IS NOT NULL THEN 'acknowledged' ELSE 'firing' END AS status
           FROM public.alerts""",
    ),
    "sme_timeline": (
        "Every applied event of an SME (its payload as sent), to be read ordered by occurred_at.",
        "SELECT partner_id, sme_id, event_id, event_type, occurred_at, payload FROM public.sme_timeline",
    ),
}


def upgrade() -> None:
    op.execute(f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER}') THEN
                CREATE ROLE {READER} NOLOGIN;
            END IF;
        END $$""")
    op.execute("CREATE SCHEMA reporting")
    op.execute("COMMENT ON SCHEMA reporting IS 'Read-model views for partners'' SQL access (docs/sql-access.md)'")
    op.execute("""
        CREATE TABLE reporting.partner_roles (
            role_name name PRIMARY KEY,
            partner_id varchar(64) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("COMMENT ON TABLE reporting.partner_roles IS 'Which partner each SQL login role reads (crm sql grant)'")
    op.execute("""
        CREATE FUNCTION reporting.partner_of(role_name name) RETURNS varchar
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS
        $$ SELECT partner_id FROM reporting.partner_roles WHERE partner_roles.role_name = $1 $$""")
    op.execute("REVOKE ALL ON FUNCTION reporting.partner_of(name) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION reporting.partner_of(name) TO {READER}")
    for table in PARTNER_TABLES:
        op.execute(f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY partner_rows ON public.{table} FOR SELECT TO {READER} USING (partner_id = {_PARTNER})"
        )
        op.execute(f"GRANT SELECT ON public.{table} TO {READER}")
    for name, (comment, query) in VIEWS.items():
        op.execute(f"CREATE VIEW reporting.{name} WITH (security_invoker = true) AS {query}")
        quoted = comment.replace("'", "''")
        op.execute(f"COMMENT ON VIEW reporting.{name} IS '{quoted}'")
        op.execute(f"GRANT SELECT ON reporting.{name} TO {READER}")
    op.execute(f"GRANT USAGE ON SCHEMA reporting TO {READER}")
    # max(occurred_at) / max(applied_at): the freshness of every query response.
    op.execute("CREATE INDEX ix_applied_events_occurred_at ON applied_events (occurred_at)")
    op.execute("CREATE INDEX ix_applied_events_applied_at ON applied_events (applied_at)")
    # The pilot board's filters, in its order (index-only counts of `total`).
    op.execute("CREATE INDEX ix_pilots_partner_status ON pilots (partner_id, status, pilot_id)")
    op.execute("CREATE INDEX ix_pilots_partner_market ON pilots (partner_id, market, pilot_id)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_pilots_partner_market")
    op.execute("DROP INDEX ix_pilots_partner_status")
    op.execute("DROP INDEX ix_applied_events_applied_at")
    op.execute("DROP INDEX ix_applied_events_occurred_at")
    for name in VIEWS:
        op.execute(f"DROP VIEW reporting.{name}")
    for table in PARTNER_TABLES:
        op.execute(f"REVOKE SELECT ON public.{table} FROM {READER}")
        op.execute(f"DROP POLICY partner_rows ON public.{table}")
        op.execute(f"ALTER TABLE public.{table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP SCHEMA reporting CASCADE")
