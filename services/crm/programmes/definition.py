"""A programme, as its definition file describes it: partners, periods, indicators and targets.

Validated whole by pydantic: every problem is reported (with its path; `crm.programmes.loading`
adds the line of the file). The measures an indicator may count are the catalogue of
`crm.programmes.measures`; docs/programmes.md describes the file.
"""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from crm.contract.events import AgreementType
from crm.contract.fields import CountryCode, PartnerId, ProgrammeId, ShortText
from crm.programmes.measures import MEASURES

Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", min_length=1, max_length=32)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
Target = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class Measure(StrEnum):
    """What an indicator counts, computed from the events (docs/programmes.md, "Measures")."""

    SMES_SELECTED = "smes_selected"
    DISTINCT_ENTERPRISES_SUPPORTED = "distinct_enterprises_supported"
    SMES_TRAINED = "smes_trained"
    SMES_IN_MATCHMAKING = "smes_in_matchmaking"
    MATCHMAKING_MARKETS = "matchmaking_markets"
    MEETINGS_HELD = "meetings_held"
    PILOTS_OPENED = "pilots_opened"
    PILOTS_IN_DISCUSSION = "pilots_in_discussion"
    AGREEMENTS = "agreements"
    AGREEMENT_MARKETS = "agreement_markets"


FILTERED = {Measure(name) for name, query in MEASURES.items() if query.filters}
"""The measures that take `agreement_type` and `market` (their queries say so)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Partner(_Strict):
    id: PartnerId
    legal_name: ShortText
    short_name: ShortText
    country: CountryCode
    role: Literal["lead", "partner"] = "partner"
    budget_eur: Amount | None = None


class Period(_Strict):
    number: Annotated[int, Field(ge=1)]
    start: date
    end: date
    report_deadline: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"period {self.number} ends ({self.end}) before it starts ({self.start})")
        if self.report_deadline < self.end:
            raise ValueError(f"period {self.number}'s report_deadline ({self.report_deadline}) is before its end")
        return self


class Indicator(_Strict):
    code: Code
    name: ShortText
    unit: ShortText
    measure: Measure
    agreement_type: AgreementType | None = None
    market: CountryCode | None = None
    mode: Literal["cumulative", "in_period"] = "cumulative"
    target: Target
    milestones: dict[int, Target] = Field(default_factory=dict)
    """Per period number, the value to have reached by its end."""
    partner_targets: dict[PartnerId, Target] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _filters_fit_the_measure(self) -> Self:
        if self.measure not in FILTERED and (self.agreement_type or self.market):
            raise ValueError(f"agreement_type and market filter only {', '.join(sorted(FILTERED))}")
        return self


class Programme(_Strict):
    id: ProgrammeId
    name: ShortText
    funding_programme: ShortText
    objective: ShortText
    start: date
    end: date
    partners: Annotated[list[Partner], Field(min_length=1)]
    markets: list[CountryCode] = Field(default_factory=list)
    periods: Annotated[list[Period], Field(min_length=1)]
    indicators: list[Indicator] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        if info.context and info.context.get(DEFER_CONSISTENCY):
            return self  # the loader locates each problem itself
        problems = consistency_problems(self)
        if problems:
            raise ValueError("; ".join(f"{dotted(path)}: {message}" for path, message in problems))
        return self

    @property
    def lead(self) -> PartnerId:
        return next(p.id for p in self.partners if p.role == "lead")

    def period(self, number: int) -> Period | None:
        return next((p for p in self.periods if p.number == number), None)


DEFER_CONSISTENCY = "defer_consistency"
Path = tuple[str | int, ...]


def dotted(path: Path) -> str:
    """`periods[2].end` for ("periods", 2, "end")."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(file)"


def consistency_problems(programme: Programme) -> list[tuple[Path, str]]:
    """What the fields say together that no single field says: one lead, unique ids, periods that
    tile the programme's duration, milestones and partner targets that exist, an indicator's
    market among the programme's, a cumulative indicator's milestones that never fall and stay
    within its target."""
    problems: list[tuple[Path, str]] = []

    def add(message: str, *path: str | int) -> None:
        problems.append((path, message))

    seen: dict[str, int] = {}
    for index, partner in enumerate(programme.partners):
        if partner.id in seen:
            add(f"partner {partner.id} is already listed (partners[{seen[partner.id]}])", "partners", index, "id")
        seen.setdefault(partner.id, index)
    leads = [index for index, partner in enumerate(programme.partners) if partner.role == "lead"]
    if len(leads) != 1:
        where = ("partners", leads[1], "role") if len(leads) > 1 else ("partners",)
        add(f'a programme has exactly one lead partner (role = "lead"), not {len(leads)}', *where)
    if programme.end <= programme.start:
        add(f"the programme ends ({programme.end}) before it starts ({programme.start})", "end")
    periods = programme.periods
    for index, period in enumerate(periods):
        if period.number != index + 1:
            add(f"periods are numbered 1, 2, 3, ... in order: expected {index + 1}", "periods", index, "number")
        if index == 0 and period.start != programme.start:
            add(f"the first period starts when the programme does ({programme.start})", "periods", 0, "start")
        if index > 0 and (period.start - periods[index - 1].end).days != 1:
            previous = periods[index - 1].end
            add(f"a period starts the day after the one before it ends ({previous})", "periods", index, "start")
        if index == len(periods) - 1 and period.end != programme.end:
            add(f"the last period ends when the programme does ({programme.end})", "periods", index, "end")
    partner_ids = {partner.id for partner in programme.partners}
    numbers = {period.number for period in periods}
    codes: dict[str, int] = {}
    for index, indicator in enumerate(programme.indicators):
        if indicator.code in codes:
            first = codes[indicator.code]
            add(f"indicator {indicator.code} is already defined (indicators[{first}])", "indicators", index, "code")
        codes.setdefault(indicator.code, index)
        if indicator.market is not None and programme.markets and indicator.market not in programme.markets:
            listed = ", ".join(programme.markets)
            add(f"{indicator.market} is not one of the programme's markets ({listed})", "indicators", index, "market")
        for number in sorted(set(indicator.milestones) - numbers):
            add(f"there is no period {number}", "indicators", index, "milestones", str(number))
        if indicator.mode == "cumulative":
            problems += [
                (("indicators", index, "milestones", str(number)), message)
                for number, message in _cumulative_milestone_problems(indicator, numbers)
            ]
        for partner_id in sorted(set(indicator.partner_targets) - partner_ids):
            add(f"{partner_id} is not a partner of the programme", "indicators", index, "partner_targets", partner_id)
    return problems


def _cumulative_milestone_problems(indicator: Indicator, numbers: set[int]) -> list[tuple[int, str]]:
    """(period number, message) for each milestone of a cumulative indicator above its target or
    below the milestone of an earlier period: what has been reached by the end of a period stays
    reached. Milestones of periods that do not exist are reported as such, not here."""
    problems: list[tuple[int, str]] = []
    highest: tuple[int, Decimal] | None = None  # the earlier period with the highest milestone
    for number, value in sorted(indicator.milestones.items()):
        if number not in numbers:
            continue
        if value > indicator.target:
            problems.append((number, f"a cumulative milestone cannot be above the target ({indicator.target})"))
        if highest is not None and value < highest[1]:
            problems.append(
                (number, f"a cumulative milestone cannot be below an earlier one (period {highest[0]}: {highest[1]})")
            )
        if highest is None or value > highest[1]:
            highest = (number, value)
    return problems
