"""Who may send events of which programme: each defined programme's partners.

An event names its programme (`programme_id`; a version-1 event is in the deployment's default
programme). A programme defined with `crm programme apply` (a row in `programme_versions`) takes
the events of the partners of its current version only; any other partner's are refused. A
programme that is not defined is unknown, and its events are refused, except the deployment's
default programme (`CRM_DEFAULT_PROGRAMME`): a deployment without a programme file keeps working
with its one implicit programme, every partner in it. Once the default programme is defined too,
its file says who is in it, like any other's.

The gateway (`crm.gateway.programmes`, cached) and `crm import` (read once) judge by this.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# The partners of each programme's current version, straight from the stored JSON: the gateway
# reads this every few seconds, and needs no validated `Programme` for it.
_CURRENT_PARTNERS = text("""
SELECT current.programme_id,
       ARRAY(SELECT partner ->> 'id' FROM jsonb_array_elements(current.definition -> 'partners') AS partner)
           AS partner_ids
FROM (
    SELECT DISTINCT ON (programme_id) programme_id, definition
    FROM programme_versions ORDER BY programme_id, version DESC
) AS current
""")


class Refusal(Enum):
    UNKNOWN = "unknown"
    """No programme of that id is defined, and it is not the deployment's default."""
    NOT_A_PARTNER = "not_a_partner"
    """The programme is defined and the partner is not among its partners."""


@dataclass(frozen=True, slots=True)
class Memberships:
    """The partners of every defined programme (programme id → partner ids), and the
    deployment's default programme."""

    partners: Mapping[str, frozenset[str]]
    default_programme: str

    def refusal(self, programme_id: str, partner_id: str) -> Refusal | None:
        """Why an event of `partner_id` naming `programme_id` is refused; None when it is not."""
        members = self.partners.get(programme_id)
        if members is None:
            return None if programme_id == self.default_programme else Refusal.UNKNOWN
        return None if partner_id in members else Refusal.NOT_A_PARTNER


async def read_memberships(connection: AsyncConnection, default_programme: str) -> Memberships:
    """Every defined programme's partners (of its current version), in one statement."""
    rows = await connection.execute(_CURRENT_PARTNERS)
    return Memberships({row.programme_id: frozenset(row.partner_ids) for row in rows}, default_programme)
