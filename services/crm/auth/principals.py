"""The role rules of docs/contract.md: a partner reads and writes its own partner; an analyst reads all."""

from dataclasses import dataclass
from typing import Literal

Role = Literal["partner", "analyst"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a verified token."""

    token_id: str
    role: Role
    partner_id: str | None  # set for partners, None for analysts


def can_read(principal: Principal, partner_id: str) -> bool:
    """Analysts read every partner; a partner only itself."""
    return principal.role == "analyst" or principal.partner_id == partner_id


def can_write(principal: Principal, partner_id: str) -> bool:
    """Only a partner writes, and only its own events; analysts write nothing."""
    return principal.role == "partner" and principal.partner_id == partner_id
