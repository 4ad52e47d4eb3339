"""The targets of `GET /v1/programme/kpis`'s `progress`, from a programme's indicators.

Each figure of `progress` has a target when the programme has an indicator counting the same
thing the same way: the first of its indicators with that measure (and agreement type), no
market filter and `mode = "cumulative"` (the KPIs count everything by `as_of`). Programme-wide
its `target`; a partner's its `partner_targets` entry. Else (no such indicator, no programme
file) the target is None, written `null`.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from crm.programmes.definition import Indicator, Measure, Programme
from crm.programmes.indicators import json_number

PROGRESS_MEASURES: Mapping[str, tuple[Measure, str | None]] = {
    "smes_on_export_missions": (Measure.SMES_IN_MATCHMAKING, None),
    "sales_agreements": (Measure.AGREEMENTS, "sales"),
    "sales_agreement_markets": (Measure.AGREEMENT_MARKETS, "sales"),
}
"""Each `progress` figure: the measure (and agreement type) of the indicator its target is from."""

Number = int | float | None


def _indicator(programme: Programme, measure: Measure, agreement_type: str | None) -> Indicator | None:
    return next(
        (
            indicator
            for indicator in programme.indicators
            if indicator.measure == measure
            and indicator.agreement_type == agreement_type
            and indicator.market is None
            and indicator.mode == "cumulative"
        ),
        None,
    )


@dataclass(frozen=True, slots=True)
class KpiTargets:
    """The indicator of each `progress` figure (None: that figure has no target)."""

    indicators: Mapping[str, Indicator | None]

    @classmethod
    def of(cls, programme: Programme | None) -> "KpiTargets":
        return cls(
            {
                name: None if programme is None else _indicator(programme, measure, agreement_type)
                for name, (measure, agreement_type) in PROGRESS_MEASURES.items()
            }
        )

    def programme_wide(self) -> dict[str, Number]:
        return {name: None if i is None else json_number(i.target) for name, i in self.indicators.items()}

    def of_partner(self, partner_id: str) -> dict[str, Number]:
        return {
            name: None if i is None else json_number(i.partner_targets.get(partner_id))
            for name, i in self.indicators.items()
        }
