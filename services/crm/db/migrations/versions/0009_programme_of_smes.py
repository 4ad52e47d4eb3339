"""Every SME knows its programme: `smes.programme_id`, the programme of its selection.

- `smes.programme_id` (NOT NULL): written by the projector from the SME's `SMESelected` (before
  that, from its earliest event; crm/projector/rules.py). Pilots, agreements, markets and the
  timeline belong to their SME's programme and reach it through (partner_id, sme_id).
- The SMEs already stored were all projected from version-1 events, which belong to the
  deployment's default programme: they are filled with it. It comes from `-x default_programme=`
  when Alembic is run by hand, else from the deployment's settings (`CRM_DEFAULT_PROGRAMME`,
  "default" when unset), the value the upcaster gives those events, so a rebuild gives the same.
- `ix_smes_programme_partner`: the figures and lists of one programme.
- `reporting.smes` (partners' SQL logins, docs/sql-access.md) gains `programme_id`: its view,
  function and grants are recreated as migration 0007 made them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from pydantic import TypeAdapter

from crm.contract.fields import ProgrammeId
from crm.settings import Settings

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "crm_partner_reader"
_DEFINER = "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
_SMES_COMMENT = (
    "One row per SME of the partner: profile, furthest funnel stage, when each stage was first "
    "reached (event time), withdrawal."
)
_SMES_COMMENT_WITH_PROGRAMME = (
    "One row per SME of the partner: its programme (of its selection), profile, furthest funnel stage, "
    "when each stage was first reached (event time), withdrawal."
)
_SMES_COLUMNS = """name, country, sector, target_markets, stage, withdrawn,
                  matchmaking_at IS NOT NULL AS in_matchmaking,
                  selected_at, trained_at, met_at, piloting_at, agreement_at, matchmaking_at,
                  withdrawn_at, first_activity_at, last_activity_at"""


def _default_programme() -> str:
    given = context.get_x_argument(as_dictionary=True).get("default_programme")
    if given is None:
        return Settings().default_programme
    return TypeAdapter(ProgrammeId).validate_python(given)


def upgrade() -> None:
    op.add_column("smes", sa.Column("programme_id", sa.String(64), nullable=True))
    op.get_bind().execute(sa.text("UPDATE smes SET programme_id = :programme"), {"programme": _default_programme()})
    op.alter_column("smes", "programme_id", nullable=False)
    op.create_index("ix_smes_programme_partner", "smes", ["programme_id", "partner_id"])
    _recreate_smes_view(f"partner_id, sme_id, programme_id, {_SMES_COLUMNS}", _SMES_COMMENT_WITH_PROGRAMME)


def downgrade() -> None:
    _recreate_smes_view(f"partner_id, sme_id, {_SMES_COLUMNS}", _SMES_COMMENT)
    op.drop_index("ix_smes_programme_partner", table_name="smes")
    op.drop_column("smes", "programme_id")


def _recreate_smes_view(columns: str, comment: str) -> None:
    """`reporting.smes` as 0007 left it (a view over a SECURITY DEFINER function over the
    unfiltered view in `reporting_private`), with `columns`."""
    op.execute("DROP VIEW reporting.smes")
    op.execute("DROP FUNCTION reporting.smes_rows()")
    op.execute("DROP VIEW reporting_private.smes")
    # Not security_invoker: it reads as its owner; partners have no access to its schema.
    op.execute(f"CREATE VIEW reporting_private.smes AS SELECT {columns} FROM public.smes")
    quoted = comment.replace("'", "''")
    op.execute(f"COMMENT ON VIEW reporting_private.smes IS '{quoted}'")
    op.execute(f"""
        CREATE FUNCTION reporting.smes_rows() RETURNS SETOF reporting_private.smes {_DEFINER} AS
        $$ SELECT * FROM reporting_private.smes WHERE partner_id = reporting.my_partner() $$""")
    op.execute("REVOKE ALL ON FUNCTION reporting.smes_rows() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION reporting.smes_rows() TO {READER}")
    op.execute("CREATE VIEW reporting.smes AS SELECT * FROM reporting.smes_rows()")
    op.execute(f"COMMENT ON VIEW reporting.smes IS '{quoted}'")
    op.execute(f"GRANT SELECT ON reporting.smes TO {READER}")
