"""Generate `scenario/4smartgrowth/`: the 4SmartGrowth programme (April 2019 - December 2021) as the
event feeds its five partners would have sent, with the figures the funder's report must show.

    python scenario/generate_4smartgrowth.py            # rewrite the files
    python scenario/generate_4smartgrowth.py --check    # exit 1 when the checked-in files differ

The checked-in files are the source of truth for `make demo`; this script only exists so they can be
reviewed and regenerated. It is deterministic: a fixed random seed, fixed dates, UUIDv5 event ids, no
wall clock. The story and the noise are described in `4smartgrowth/README.md`.

The totals are fixed by the plan below, not by chance: the seed
(`shared/seed/4smartgrowth-project-summary.md`) reports 35 SMEs in digital matchmaking in 3 markets,
3 sales agreements (1 in Chile, 2 in China), 2 commercial representation agreements and 41 pilots still
under discussion; `build_programme` asserts them. Randomness only picks dates, regions and counterparts.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20190401
NAMESPACE = uuid.UUID("7d9b5a52-3c1e-4b8e-9f0a-4a5b6c7d8e9f")
OUT_DIR = Path(__file__).resolve().parent / "4smartgrowth"
AS_OF = datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)
STALL_THRESHOLD_DAYS = 30
# Open pilots are either active in December 2021 or idle since October at the latest, so whether a
# pilot is stalled never depends on how an implementation rounds the 30-day threshold.
ACTIVE_FROM, ACTIVE_TO = date(2021, 12, 6), date(2021, 12, 20)
STALLED_BEFORE = date(2021, 10, 31)
LAST_OPENING = date(2021, 12, 10)

SEED_FIGURES = {
    "smes_in_matchmaking": 35,
    "matchmaking_markets": ["CL", "CN", "VN"],
    "agreements_by_type": {"commercial_representation": 2, "sales": 3},
    "sales_by_market": {"CL": 1, "CN": 2},
    "pilots_in_discussion": 41,
}

# --- the programme's calendar -----------------------------------------------------------------------

FIRST_CALL = (date(2019, 5, 6), date(2019, 9, 27))
SECOND_CALL = (date(2020, 1, 13), date(2020, 3, 27))
LATE_JOINERS = (date(2020, 8, 17), date(2020, 9, 4))
GUANGZHOU_MISSION = (date(2019, 11, 18), date(2019, 11, 22))  # the last physical trip before COVID-19
WEBINAR = date(2020, 12, 7)  # "Webinar 7.12.2020" in the seed


@dataclass(frozen=True)
class Round:
    """A digital matchmaking round: a fortnight of online meetings in one region."""

    market: str
    region: str
    start: date
    end: date


ROUNDS = (
    Round("CN", "Guangzhou", date(2020, 6, 8), date(2020, 6, 19)),
    Round("CN", "Hebei", date(2020, 9, 14), date(2020, 9, 25)),
    Round("VN", "Ho Chi Minh City", date(2020, 10, 5), date(2020, 10, 16)),
    Round("CL", "Santiago", date(2020, 11, 2), date(2020, 11, 13)),
    Round("CN", "Guangzhou", date(2020, 11, 16), date(2020, 11, 27)),
    Round("VN", "Da Nang", date(2021, 3, 8), date(2021, 3, 19)),
    Round("CN", "Hebei", date(2021, 4, 12), date(2021, 4, 23)),
    Round("CL", "Valparaíso", date(2021, 6, 7), date(2021, 6, 18)),
    Round("VN", "Ho Chi Minh City", date(2021, 9, 13), date(2021, 9, 24)),
    Round("CL", "Santiago", date(2021, 10, 4), date(2021, 10, 15)),
)

COUNTERPARTS = {
    "Guangzhou": (
        "Huangpu District",
        "Guangzhou Development District investment promotion",
        "Nansha District commerce bureau",
        "Guangzhou smart city operations centre",
        "Pazhou digital economy zone",
    ),
    "Hebei": (
        "Hebei provincial department of commerce",
        "Xiong'an New Area administration",
        "Shijiazhuang high-tech zone",
        "Langfang development zone",
    ),
    "Ho Chi Minh City": (
        "HCMC department of information and communications",
        "Saigon Hi-Tech Park",
        "Thu Duc City people's committee",
    ),
    "Da Nang": (
        "Da Nang department of information and communications",
        "Da Nang Hi-Tech Park",
        "Da Nang water supply company",
    ),
    "Santiago": ("Municipalidad de Santiago", "Municipalidad de Las Condes", "Municipalidad de Providencia", "Corfo"),
    "Valparaíso": ("Municipalidad de Valparaíso", "Empresa Portuaria Valparaíso"),
}
REGIONS = {"CN": ("Guangzhou", "Hebei"), "VN": ("Ho Chi Minh City", "Da Nang"), "CL": ("Santiago", "Valparaíso")}

PILOT_NOTES = (
    "technical specification shared",
    "site visit held online",
    "budget request submitted by the city",
    "reference case from the home region sent",
    "local partner introduced",
    "pricing discussed",
    "procurement timeline clarified",
    "proof-of-concept scope agreed",
)
LOSS_NOTES = ("city chose a local supplier", "budget frozen", "requirements changed", "no response since spring")

# --- the partners and their SMEs --------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementPlan:
    holder: str  # the SME that signs it
    agreement_type: str
    market: str
    region: str
    signed_on: date
    counterpart: str  # fictitious
    value_eur: float | None


@dataclass(frozen=True)
class PartnerPlan:
    """How far each partner's SMEs got; the counts add up to the seed's results."""

    partner_id: str
    country: str
    offset_style: str  # how the partner's system writes timestamps: "Z", "local" (EET/EEST), "millis"
    markets: tuple[str, ...]  # the markets the partner's connections lead to, most used first
    smes: tuple[tuple[str, str, str], ...]  # (sme_id, name, sector), fictitious companies
    in_matchmaking: int
    physical_only: int  # met in Guangzhou in November 2019 and never joined digital matchmaking
    at_mission: int  # SMEs in matchmaking that were also on the Guangzhou mission
    untrained: int  # selected, never finished a training (among the SMEs that never met anyone)
    late_joiner: bool  # one SME taken in August 2020 straight into matchmaking, no training recorded
    without_pilot: int  # SMEs in matchmaking that never opened a pilot
    open_pilots: int
    lost_pilots: int
    agreements: tuple[AgreementPlan, ...]
    withdraws_early: bool  # one SME left in spring 2020 (COVID-19) before meeting anyone
    withdraws_after_pilot: bool  # one SME in matchmaking left in 2021, its pilot closed as withdrawn


PARTNERS = (
    PartnerPlan(
        partner_id="sisp",
        country="SE",
        offset_style="Z",
        markets=("CL", "VN", "CN"),
        smes=(
            ("se-lumora", "Lumora Lighting AB", "smart lighting"),
            ("se-aquaspect", "Aquaspect AB", "water quality monitoring"),
            ("se-cirkulera", "Cirkulera Recycling Tech AB", "waste management"),
            ("se-gridwise", "Gridwise Energy AB", "energy management"),
            ("se-parkly", "Parkly Mobility AB", "smart parking"),
            ("se-sensefield", "Sensefield AB", "air quality sensors"),
            ("se-nordheat", "Nordic Heat Analytics AB", "district heating optimisation"),
            ("se-byggdata", "Byggdata Digital Twin AB", "digital twins for buildings"),
            ("se-trafikvy", "Trafikvy AB", "traffic analytics"),
            ("se-klimatkoll", "Klimatkoll AB", "climate data platforms"),
        ),
        in_matchmaking=6,
        physical_only=1,
        at_mission=1,
        untrained=1,
        late_joiner=False,
        without_pilot=1,
        open_pilots=7,
        lost_pilots=1,
        agreements=(
            AgreementPlan(
                "se-trafikvy",
                "commercial_representation",
                "CL",
                "Santiago",
                date(2021, 11, 18),
                "Andes Urban Tech SpA",
                None,
            ),
        ),
        withdraws_early=False,
        withdraws_after_pilot=False,
    ),
    PartnerPlan(
        partner_id="tehnopol",
        country="EE",
        offset_style="local",
        markets=("CN", "VN", "CL"),
        smes=(
            ("ee-valgus", "Valgus Systems OÜ", "smart lighting"),
            ("ee-andmevoog", "Andmevoog OÜ", "urban data platforms"),
            ("ee-linnaruum", "Linnaruum OÜ", "urban planning software"),
            ("ee-parkimine", "Parkimine Pro OÜ", "smart parking"),
            ("ee-veetark", "Veetark OÜ", "water metering"),
            ("ee-prygi", "Prügi.io OÜ", "waste collection routing"),
            ("ee-kiirlaadija", "Kiirlaadija OÜ", "EV charging"),
            ("ee-turvakilp", "Turvakilp OÜ", "cybersecurity"),
            ("ee-elinn", "e-Linn Solutions OÜ", "e-governance"),
            ("ee-energiasaast", "Energiasääst OÜ", "building energy efficiency"),
            ("ee-liiklusandur", "Liiklusandur OÜ", "traffic sensors"),
            ("ee-ohuseire", "Õhuseire OÜ", "air quality monitoring"),
        ),
        in_matchmaking=8,
        physical_only=1,
        at_mission=2,
        untrained=0,
        late_joiner=True,
        without_pilot=1,
        open_pilots=10,
        lost_pilots=2,
        agreements=(
            AgreementPlan(
                "ee-valgus", "sales", "CN", "Guangzhou", date(2021, 3, 15), "Lingnan Smart Lighting Co., Ltd.", 120_000
            ),
        ),
        withdraws_early=False,
        withdraws_after_pilot=False,
    ),
    PartnerPlan(
        partner_id="business-tampere",
        country="FI",
        offset_style="local",
        markets=("VN", "CN"),
        smes=(
            ("fi-tammermobility", "Tammer Mobility Oy", "mobility as a service"),
            ("fi-pyynikkiwater", "Pyynikki Water Oy", "water leak detection"),
            ("fi-hervantarobotics", "Hervanta Robotics Oy", "service robotics"),
            ("fi-nasienergy", "Näsi Energy Analytics Oy", "energy analytics"),
            ("fi-sarvis", "Sarvis Lighting Oy", "smart lighting"),
            ("fi-kalevahealth", "Kaleva Health Data Oy", "e-health"),
            ("fi-lielahti", "Lielahti Waste Tech Oy", "waste management"),
            ("fi-tamperedu", "Tampere Edutech Oy", "education technology"),
            ("fi-harmalaair", "Härmälä Air Oy", "indoor air quality"),
            ("fi-ratina", "Ratina Digital Oy", "digital twins"),
            ("fi-kalkku", "Kalkku Sensors Oy", "industrial IoT sensors"),
        ),
        in_matchmaking=7,
        physical_only=0,
        at_mission=1,
        untrained=1,
        late_joiner=False,
        without_pilot=1,
        open_pilots=8,
        lost_pilots=2,
        agreements=(
            AgreementPlan(
                "fi-nasienergy",
                "commercial_representation",
                "VN",
                "Da Nang",
                date(2021, 6, 30),
                "Han River Solutions JSC",
                None,
            ),
        ),
        withdraws_early=False,
        withdraws_after_pilot=True,
    ),
    PartnerPlan(
        partner_id="turku-science-park",
        country="FI",
        offset_style="millis",
        markets=("CN", "CL", "VN"),
        smes=(
            ("fi-aurajoki", "Aurajoki Water Oy", "water treatment"),
            ("fi-archipelago", "Archipelago Maritime Tech Oy", "smart ports"),
            ("fi-turunvalo", "Turun Valo Oy", "smart lighting"),
            ("fi-sensofin", "Sensofin Oy", "environmental sensors"),
            ("fi-kaskenkatu", "Kaskenkatu Software Oy", "city services software"),
            ("fi-ruissalo", "Ruissalo Energy Oy", "solar and storage"),
            ("fi-linnanfaltti", "Linnanfältti Mobility Oy", "traffic management"),
            ("fi-hirvensalo", "Hirvensalo Heat Oy", "heat pumps"),
            ("fi-varissuo", "Varissuo Data Oy", "open data platforms"),
            ("fi-meriva", "Meriva Air Oy", "air quality monitoring"),
            ("fi-skanssi", "Skanssi Smart Buildings Oy", "building automation"),
        ),
        in_matchmaking=7,
        physical_only=1,
        at_mission=1,
        untrained=0,
        late_joiner=True,
        without_pilot=1,
        open_pilots=8,
        lost_pilots=1,
        agreements=(
            AgreementPlan(
                "fi-aurajoki", "sales", "CN", "Hebei", date(2021, 9, 22), "Yanzhao Water Technology Co., Ltd.", 85_000
            ),
        ),
        withdraws_early=False,
        withdraws_after_pilot=False,
    ),
    PartnerPlan(
        partner_id="vasteras-science-park",
        country="SE",
        offset_style="Z",
        markets=("CL", "CN"),
        smes=(
            ("se-malarautomation", "Mälar Automation AB", "industrial automation"),
            ("se-robotdalen", "Robotdalen Solutions AB", "robotics"),
            ("se-gridtech", "Västerås Grid Tech AB", "smart grids"),
            ("se-svartan", "Svartån Water AB", "stormwater management"),
            ("se-kraftbyte", "Kraftbyte AB", "energy storage"),
            ("se-elektrum", "Elektrum Charging AB", "EV charging"),
            ("se-metrosense", "Metro Sense AB", "public transport analytics"),
            ("se-aroslighting", "Aros Lighting AB", "smart lighting"),
            ("se-angso", "Ängsö Analytics AB", "predictive maintenance"),
            ("se-irsta", "Irsta Infra AB", "infrastructure monitoring"),
        ),
        in_matchmaking=7,
        physical_only=0,
        at_mission=1,
        untrained=0,
        late_joiner=False,
        without_pilot=1,
        open_pilots=8,
        lost_pilots=2,
        agreements=(
            AgreementPlan(
                "se-kraftbyte", "sales", "CL", "Santiago", date(2021, 10, 28), "Cordillera Energía SpA", 64_500
            ),
        ),
        withdraws_early=True,
        withdraws_after_pilot=False,
    ),
)

# --- the programme as facts -------------------------------------------------------------------------


@dataclass
class Meeting:
    on: datetime
    market: str
    region: str
    counterpart: str
    format: str
    pilot_id: str | None = None


@dataclass
class Pilot:
    pilot_id: str
    market: str
    region: str
    counterpart: str
    opened: datetime
    outcome: str  # "open", "won", "lost", "withdrawn"
    updates: list[datetime] = field(default_factory=list)
    closed: datetime | None = None


@dataclass
class Agreement:
    agreement_id: str
    plan: AgreementPlan
    signed: datetime
    pilot_id: str | None


@dataclass
class Sme:
    partner_id: str
    sme_id: str
    name: str
    country: str
    sector: str
    selected: datetime
    markets: list[str]  # the markets it met in, first one first
    target_markets: list[str] = field(default_factory=list)
    trainings: list[tuple[datetime, str, float]] = field(default_factory=list)
    meetings: list[Meeting] = field(default_factory=list)
    pilots: list[Pilot] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)
    withdrawn: tuple[datetime, str] | None = None


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def some_day(rng: random.Random, start: date, end: date) -> date:
    """A working day between start and end (the range must hold one)."""
    while True:
        day = start + timedelta(days=rng.randint(0, (end - start).days))
        if day.weekday() < 5:
            return day


def office_time(rng: random.Random, day: date) -> datetime:
    return at(day, rng.randint(6, 14), rng.choice((0, 15, 30, 45)))


def meeting_time(rng: random.Random, day: date, market: str) -> datetime:
    # Mornings in Europe for Asia, afternoons for Chile.
    hour = rng.randint(6, 9) if market in ("CN", "VN") else rng.randint(13, 16)
    return at(day, hour, rng.choice((0, 30)))


def build_programme(rng: random.Random) -> dict[str, list[Sme]]:
    """Every SME of every partner with what happened to it, as planned in PARTNERS."""
    programme = {plan.partner_id: build_partner(rng, plan) for plan in PARTNERS}
    check_against_seed(programme)
    return programme


def build_partner(rng: random.Random, plan: PartnerPlan) -> list[Sme]:
    rows = list(plan.smes)
    rng.shuffle(rows)
    holder_ids = [a.holder for a in plan.agreements]
    rows.sort(key=lambda row: holder_ids.index(row[0]) if row[0] in holder_ids else len(holder_ids))
    n_mm, n_phys = plan.in_matchmaking, plan.physical_only
    smes = []
    for index, (sme_id, name, sector) in enumerate(rows):
        if plan.late_joiner and index == n_mm - 1:
            call = LATE_JOINERS
        elif index < n_mm + n_phys or index % 4 != 3:
            call = FIRST_CALL
        else:
            call = SECOND_CALL
        smes.append(
            Sme(plan.partner_id, sme_id, name, plan.country, sector, office_time(rng, some_day(rng, *call)), [])
        )
    in_matchmaking, physical_only, others = smes[:n_mm], smes[n_mm : n_mm + n_phys], smes[n_mm + n_phys :]

    # Markets: agreement holders first (their market is fixed), then the partner's markets in turn.
    for index, sme in enumerate(in_matchmaking):
        first = (
            plan.agreements[index].market if index < len(plan.agreements) else plan.markets[index % len(plan.markets)]
        )
        sme.markets = [first]
        if rng.random() < 0.35:
            sme.markets.append(rng.choice([m for m in ("CN", "VN", "CL") if m != first]))

    add_trainings(rng, plan, in_matchmaking, physical_only, others)
    add_guangzhou_mission(rng, in_matchmaking[len(plan.agreements) : len(plan.agreements) + plan.at_mission])
    add_guangzhou_mission(rng, physical_only)
    deals = dict(zip((id(s) for s in in_matchmaking), plan.agreements, strict=False))
    for sme in in_matchmaking:
        agreement = deals.get(id(sme))
        add_digital_meetings(rng, sme, first_round_in=agreement.region if agreement else None)
    add_pilots_and_agreements(rng, plan, in_matchmaking)

    if plan.withdraws_early:
        leaver = next(s for s in reversed(others) if s.selected.date() < SECOND_CALL[0])
        left = office_time(rng, some_day(rng, date(2020, 4, 6), date(2020, 4, 30)))
        leaver.withdrawn = (left, "COVID-19: export plans frozen")
    for sme in smes:
        if not sme.target_markets:
            sme.target_markets = sorted(set(sme.markets) | {rng.choice(plan.markets)})
    return sorted(smes, key=lambda s: s.sme_id)


def add_trainings(
    rng: random.Random, plan: PartnerPlan, in_matchmaking: list[Sme], physical_only: list[Sme], others: list[Sme]
) -> None:
    untrained = {id(s) for s in others[: plan.untrained]}
    matchmaking = {id(s) for s in in_matchmaking}
    for sme in [*in_matchmaking, *physical_only, *others]:
        if id(sme) in untrained or sme.selected.date() >= LATE_JOINERS[0]:
            continue
        if sme.selected.date() < SECOND_CALL[0]:
            day = some_day(rng, max(sme.selected.date() + timedelta(days=14), date(2019, 6, 10)), date(2019, 11, 8))
            sme.trainings.append(
                (office_time(rng, day), "Export readiness: smart city markets in China and Vietnam", 16.0)
            )
        else:
            day = some_day(rng, date(2020, 4, 14), date(2020, 5, 8))
            sme.trainings.append((office_time(rng, day), "Export readiness (online cohort)", 12.0))
        if id(sme) in matchmaking:
            day = some_day(rng, date(2020, 5, 11), date(2020, 6, 5))
            sme.trainings.append((office_time(rng, day), "Digital matchmaking and online pitching", 6.0))
            if "CL" in sme.markets:
                day = some_day(rng, date(2020, 9, 21), date(2020, 10, 23))
                sme.trainings.append((office_time(rng, day), "Market intelligence: Chile", 8.0))
            if rng.random() < 0.4:
                sme.trainings.append(
                    (at(WEBINAR, 9), "Webinar: smart city procurement in China, Chile and Vietnam", 2.0)
                )


def add_guangzhou_mission(rng: random.Random, smes: list[Sme]) -> None:
    for sme in smes:
        for _ in range(rng.randint(1, 3)):
            day = some_day(rng, *GUANGZHOU_MISSION)
            counterpart = rng.choice(COUNTERPARTS["Guangzhou"])
            sme.meetings.append(Meeting(at(day, rng.randint(1, 8)), "CN", "Guangzhou", counterpart, "physical"))
        if "CN" not in sme.markets:
            sme.target_markets = sorted({*sme.markets, "CN"})


def add_digital_meetings(rng: random.Random, sme: Sme, first_round_in: str | None) -> None:
    """One or two rounds per market of the SME; an agreement holder starts in its deal's region."""
    for index, market in enumerate(sme.markets):
        rounds = [r for r in ROUNDS if r.market == market and r.start > sme.selected.date()]
        if first_round_in and index == 0:
            rounds = [next(r for r in rounds if r.region == first_round_in)]
        for chosen in sorted(rng.sample(rounds, k=min(len(rounds), rng.randint(1, 2))), key=lambda r: r.start):
            for _ in range(rng.randint(1, 3)):
                day = some_day(rng, chosen.start, chosen.end)
                counterpart = rng.choice(COUNTERPARTS[chosen.region])
                sme.meetings.append(
                    Meeting(meeting_time(rng, day, market), market, chosen.region, counterpart, "digital")
                )


def add_pilots_and_agreements(rng: random.Random, plan: PartnerPlan, in_matchmaking: list[Sme]) -> None:
    n_agreements = len(plan.agreements)
    holders = in_matchmaking[:n_agreements]
    leaver = in_matchmaking[n_agreements + plan.at_mission] if plan.withdraws_after_pilot else None
    no_pilot = in_matchmaking[len(in_matchmaking) - plan.without_pilot :]
    pool = [s for s in in_matchmaking if s not in holders and s is not leaver and s not in no_pilot] + holders

    def new_pilot(sme: Sme, outcome: str, market: str | None = None, not_after: date = LAST_OPENING) -> Pilot:
        meetings = [m for m in sme.meetings if m.format == "digital" and (market is None or m.market == market)]
        first = min(meetings, key=lambda m: m.on)
        opened_on = min(first.on.date() + timedelta(days=rng.randint(14, 80)), not_after)
        pilot = Pilot(
            pilot_id=f"p-{sme.sme_id.split('-', 1)[1]}-{len(sme.pilots) + 1}",
            market=first.market,
            region=first.region,
            counterpart=first.counterpart,
            opened=office_time(rng, some_day(rng, opened_on, opened_on + timedelta(days=4))),
            outcome=outcome,
        )
        sme.pilots.append(pilot)
        return pilot

    # Agreements: a sales agreement ends its pilot (won); a representation agreement is signed with a local
    # agent while the SME's pilot in that market goes on.
    for sme, agreement_plan in zip(holders, plan.agreements, strict=True):
        signed_before = agreement_plan.signed_on - timedelta(days=60)
        is_sales = agreement_plan.agreement_type == "sales"
        pilot = new_pilot(sme, "won" if is_sales else "open", agreement_plan.market, signed_before)
        signed = office_time(rng, agreement_plan.signed_on)
        sme.agreements.append(
            Agreement(
                f"a-{plan.partner_id}-{len(sme.agreements) + 1}",
                agreement_plan,
                signed,
                pilot.pilot_id if is_sales else None,
            )
        )
        if is_sales:
            pilot.closed = signed + timedelta(days=rng.randint(1, 3))
    if leaver is not None:
        pilot = new_pilot(leaver, "withdrawn", not_after=date(2021, 1, 29))
        pilot.closed = office_time(rng, pilot.opened.date() + timedelta(days=rng.randint(40, 70)))
        leaver.withdrawn = (pilot.closed + timedelta(days=rng.randint(2, 9)), "acquired; export plans on hold")
        leaver.meetings = [m for m in leaver.meetings if m.on < leaver.withdrawn[0]]

    n_open = plan.open_pilots - sum(1 for s in holders for p in s.pilots if p.outcome == "open")
    outcomes = ["open"] * n_open + ["lost"] * plan.lost_pilots
    rng.shuffle(outcomes)
    for index, outcome in enumerate(outcomes):
        sme = pool[index % len(pool)]
        new_pilot(sme, outcome, rng.choice(sme.markets))
    for sme in in_matchmaking:
        for pilot in sme.pilots:
            add_pilot_activity(rng, sme, pilot)


def add_pilot_activity(rng: random.Random, sme: Sme, pilot: Pilot) -> None:
    opened = pilot.opened.date()
    if pilot.outcome == "lost":
        closed_on = min(opened + timedelta(days=rng.randint(60, 240)), date(2021, 12, 17))
        pilot.closed = office_time(rng, some_day(rng, closed_on, closed_on + timedelta(days=3)))
    end = pilot.closed.date() if pilot.closed else None
    if pilot.outcome == "open":
        stalled = opened < STALLED_BEFORE - timedelta(days=20) and rng.random() < 0.3
        if stalled:
            last = some_day(rng, max(opened + timedelta(days=7), date(2021, 4, 1)), STALLED_BEFORE)
        else:
            last = some_day(rng, max(opened + timedelta(days=1), ACTIVE_FROM), ACTIVE_TO)
        end = last
    assert end is not None
    # Activity falls strictly between the opening and the end, so nothing names a pilot after it closed.
    span = (end - opened).days
    updates = sorted(
        {opened + timedelta(days=rng.randint(1, span - 1)) for _ in range(rng.randint(0, 3))} if span > 2 else set()
    )
    if pilot.outcome == "open":
        updates = [d for d in updates if d < end] + [end]  # the last activity is fixed by the plan
    for day in updates:
        if rng.random() < 0.25:  # a follow-up meeting naming the pilot rather than a note
            format_ = "digital" if day >= date(2020, 3, 1) else "physical"
            meeting = Meeting(
                meeting_time(rng, day, pilot.market),
                pilot.market,
                pilot.region,
                pilot.counterpart,
                format_,
                pilot.pilot_id,
            )
            sme.meetings.append(meeting)
        else:
            pilot.updates.append(office_time(rng, day))


def check_against_seed(programme: dict[str, list[Sme]]) -> None:
    figures = programme_figures(programme)
    assert figures["smes_in_matchmaking"] == SEED_FIGURES["smes_in_matchmaking"], figures
    assert figures["matchmaking_markets"] == SEED_FIGURES["matchmaking_markets"], figures
    assert figures["agreements_by_type"] == SEED_FIGURES["agreements_by_type"], figures
    assert figures["pilots_in_discussion"] == SEED_FIGURES["pilots_in_discussion"], figures
    sales = Counter(
        a.plan.market for s in all_smes(programme) for a in s.agreements if a.plan.agreement_type == "sales"
    )
    assert dict(sales) == SEED_FIGURES["sales_by_market"], sales


def all_smes(programme: dict[str, list[Sme]]) -> list[Sme]:
    return [sme for smes in programme.values() for sme in smes]


# --- the figures, from the plan ---------------------------------------------------------------------


def last_activity(sme: Sme, pilot: Pilot) -> datetime:
    moments = [pilot.opened, *pilot.updates]
    moments += [m.on for m in sme.meetings if m.pilot_id == pilot.pilot_id]
    moments += [a.signed for a in sme.agreements if a.pilot_id == pilot.pilot_id]
    return max(moments)


def kpi_figures(smes: list[Sme]) -> dict[str, Any]:
    digital = [m for s in smes for m in s.meetings if m.format == "digital"]
    agreements = [a for s in smes for a in s.agreements]
    open_pilots = [(s, p) for s in smes for p in s.pilots if p.outcome == "open"]
    stall_limit = AS_OF - timedelta(days=STALL_THRESHOLD_DAYS)
    return {
        "smes_selected": len(smes),
        "smes_withdrawn": sum(1 for s in smes if s.withdrawn),
        "smes_in_matchmaking": sum(1 for s in smes if any(m.format == "digital" for m in s.meetings)),
        "matchmaking_markets": sorted({m.market for m in digital}),
        "agreements_by_type": dict(sorted(Counter(a.plan.agreement_type for a in agreements).items())),
        "agreements_by_market": dict(sorted(Counter(a.plan.market for a in agreements).items())),
        "pilots_in_discussion": len(open_pilots),
        "pilots_stalled": sum(1 for s, p in open_pilots if last_activity(s, p) < stall_limit),
    }


def programme_figures(programme: dict[str, list[Sme]]) -> dict[str, Any]:
    figures: dict[str, Any] = {"as_of": AS_OF.isoformat().replace("+00:00", "Z")}
    figures |= kpi_figures(all_smes(programme))
    figures["partners"] = {partner: kpi_figures(smes) for partner, smes in programme.items()}
    return figures


STAGES = ("selected", "trained", "met", "piloting", "agreement")


def funnel(partner_id: str, smes: list[Sme]) -> dict[str, Any]:
    def furthest(sme: Sme) -> int:
        reached = [0, 1 if sme.trainings else 0, 2 if sme.meetings else 0]
        return max([*reached, 3 if sme.pilots else 0, 4 if sme.agreements else 0])

    stages = {stage: sum(1 for s in smes if furthest(s) >= i) for i, stage in enumerate(STAGES)}
    by_market = {}
    for market in sorted({m.market for s in smes for m in s.meetings}):
        met = [s for s in smes if any(m.market == market for m in s.meetings)]
        piloting = [s for s in met if any(p.market == market for p in s.pilots)]
        signed = [s for s in piloting if any(a.plan.market == market for a in s.agreements)]
        by_market[market] = {"met": len(met), "piloting": len(piloting), "agreement": len(signed)}
    return {"partner_id": partner_id, "stages": stages, "by_market": by_market}


# --- events, as each partner's system sends them ----------------------------------------------------


@dataclass
class Line:
    """One line of a partner file: what was sent, when, and whether it is refused."""

    sent: datetime
    order: int
    body: dict[str, Any]
    invalid_field: str | None = None
    kind: str = "event"  # "event", "duplicate", "invalid"
    refused_first: bool = False  # a broken copy of it was sent (and refused) before it


def timestamp(moment: datetime, style: str) -> str:
    if style == "millis":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if style == "local":  # Tallinn and Tampere: EET, EEST from the last Sunday of March to that of October
        offset = 3 if eu_summer_time(moment) else 2
        local = moment + timedelta(hours=offset)
        return local.strftime("%Y-%m-%dT%H:%M:%S") + f"+0{offset}:00"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def eu_summer_time(moment: datetime) -> bool:
    def last_sunday(year: int, month: int) -> datetime:
        day = date(year, month, 31)
        return at(day - timedelta(days=(day.weekday() + 1) % 7), 1)

    return last_sunday(moment.year, 3) <= moment < last_sunday(moment.year, 10)


def sme_events(sme: Sme) -> list[tuple[datetime, str, dict[str, Any]]]:
    """(occurred, event_type, payload) of one SME, in the order they happened."""
    events: list[tuple[datetime, str, dict[str, Any]]] = [
        (
            sme.selected,
            "SMESelected",
            {"name": sme.name, "country": sme.country, "sector": sme.sector, "target_markets": sme.target_markets},
        )
    ]
    events += [(on, "TrainingCompleted", {"training": name, "hours": hours}) for on, name, hours in sme.trainings]
    for m in sme.meetings:
        payload = {"market": m.market, "region": m.region, "counterpart": m.counterpart, "format": m.format}
        if m.pilot_id:
            payload |= {"pilot_id": m.pilot_id, "notes": "follow-up on the pilot"}
        events.append((m.on, "MeetingHeld", payload))
    for p in sme.pilots:
        opened = {"pilot_id": p.pilot_id, "market": p.market, "region": p.region, "counterpart": p.counterpart}
        events.append((p.opened, "PilotOpened", opened | {"title": f"{sme.sector.capitalize()} pilot in {p.region}"}))
        for i, on in enumerate(p.updates):
            events.append(
                (
                    on,
                    "PilotUpdated",
                    {"pilot_id": p.pilot_id, "note": PILOT_NOTES[(len(p.pilot_id) + i) % len(PILOT_NOTES)]},
                )
            )
        if p.closed:
            closed: dict[str, Any] = {"pilot_id": p.pilot_id, "outcome": p.outcome}
            if p.outcome == "lost":
                closed["note"] = LOSS_NOTES[len(p.pilot_id) % len(LOSS_NOTES)]
            events.append((p.closed, "PilotClosed", closed))
    for a in sme.agreements:
        signed: dict[str, Any] = {
            "agreement_id": a.agreement_id,
            "agreement_type": a.plan.agreement_type,
            "market": a.plan.market,
            "counterpart": a.plan.counterpart,
        }
        if a.pilot_id:
            signed["pilot_id"] = a.pilot_id
        if a.plan.value_eur is not None:
            signed["value_eur"] = a.plan.value_eur
        events.append((a.signed, "AgreementSigned", signed))
    if sme.withdrawn:
        events.append((sme.withdrawn[0], "SMEWithdrawn", {"reason": sme.withdrawn[1]}))
    return sorted(events, key=lambda e: e[0])


def partner_lines(rng: random.Random, plan: PartnerPlan, smes: list[Sme]) -> list[Line]:
    """The partner's feed in send order: daily syncs, some backfills, some retries, some refusals."""
    lines: list[Line] = []
    for sme in smes:
        for number, (occurred, event_type, payload) in enumerate(sme_events(sme)):
            body = {
                "event_id": str(uuid.uuid5(NAMESPACE, f"{plan.partner_id}/{sme.sme_id}/{number}")),
                "event_type": event_type,
                "schema_version": 1,
                "occurred_at": timestamp(occurred, plan.offset_style),
                "partner_id": plan.partner_id,
                "sme_id": sme.sme_id,
                "payload": payload,
            }
            # Most events are synced the same night; about one in twelve is entered weeks later.
            if rng.random() < 0.08:
                lag = timedelta(days=rng.randint(20, 120), hours=rng.randint(0, 8))
            else:
                lag = timedelta(hours=rng.randint(1, 20))
            lines.append(Line(occurred + lag, len(lines), body))
    add_targeted_lateness(plan, lines)
    add_refusals(plan, lines)
    add_retries(rng, lines)
    return sorted(lines, key=lambda line: (line.sent, line.order))


def add_targeted_lateness(plan: PartnerPlan, lines: list[Line]) -> None:
    """Backfills that turn causality upside down in the feed, which projections must survive."""
    if plan.partner_id == "business-tampere":
        # A lost pilot only recorded when it was closed: the PilotOpened arrives after the PilotClosed.
        closed = next(
            line
            for line in lines
            if line.body["event_type"] == "PilotClosed" and line.body["payload"]["outcome"] == "lost"
        )
        opened = next(
            line
            for line in lines
            if line.body["event_type"] == "PilotOpened"
            and line.body["payload"]["pilot_id"] == closed.body["payload"]["pilot_id"]
        )
        opened.sent = closed.sent + timedelta(days=2)
    if plan.partner_id in ("turku-science-park", "tehnopol"):
        # The late joiner's selection is entered after its first matchmaking meeting was synced.
        late = max(
            (line for line in lines if line.body["event_type"] == "SMESelected"),
            key=lambda line: line.body["occurred_at"],
        )
        first_meeting = next(
            line
            for line in lines
            if line.body["sme_id"] == late.body["sme_id"] and line.body["event_type"] == "MeetingHeld"
        )
        late.sent = first_meeting.sent + timedelta(days=5)


def add_retries(rng: random.Random, lines: list[Line]) -> None:
    """A timed-out POST is sent again: the same envelope, byte for byte, minutes to days later."""
    originals = [line for line in lines if line.kind == "event" and not line.refused_first]
    for line in rng.sample(originals, k=max(3, len(originals) // 25)):
        retry = timedelta(minutes=rng.randint(2, 60 * 24 * 6))
        lines.append(Line(line.sent + retry, len(lines), line.body, kind="duplicate"))


def add_refusals(plan: PartnerPlan, lines: list[Line]) -> None:
    """Broken envelopes the gateway must refuse, naming the field; most are fixed and re-sent."""
    for event_type, where, field_name, break_it in REFUSALS[plan.partner_id]:
        target = next(
            line
            for line in lines
            if line.kind == "event"
            and line.body["event_type"] == event_type
            and where.items() <= line.body["payload"].items()
        )
        broken = break_it(json.loads(json.dumps(target.body)))
        if broken["event_type"] == target.body["event_type"]:
            # The corrected envelope (same event_id) goes out a day after the refusal.
            sent = target.sent
            target.sent = sent + timedelta(days=1)
            target.refused_first = True
        else:
            sent = target.sent + timedelta(hours=1)
            broken["event_id"] = str(uuid.uuid5(NAMESPACE, f"{plan.partner_id}/refused/{field_name}"))
        lines.append(Line(sent, len(lines), broken, invalid_field=field_name, kind="invalid"))


def _with(path: str, value: Any) -> Any:
    def break_it(body: dict[str, Any]) -> dict[str, Any]:
        *parents, leaf = path.split(".")
        node = body
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value(node[leaf]) if callable(value) else value
        return body

    return break_it


_DELETE = object()

# partner -> (event type, payload it must match, the field the refusal names, how it is broken)
REFUSALS: dict[str, list[tuple[str, dict[str, Any], str, Any]]] = {
    # Chile written as its alpha-3 code.
    "sisp": [("MeetingHeld", {"market": "CL"}, "payload.market", _with("payload.market", "CHL"))],
    "tehnopol": [
        # A calendar entry the partner's CRM exports as an event: not in the catalogue, never re-sent.
        ("MeetingHeld", {"format": "digital"}, "event_type", _with("event_type", "MeetingScheduled")),
        # Hours as a string ("16"): strings are not coerced into numbers.
        ("TrainingCompleted", {}, "payload.hours", _with("payload.hours", lambda hours: str(int(hours)))),
    ],
    "business-tampere": [("PilotOpened", {}, "payload.counterpart", _with("payload.counterpart", _DELETE))],
    "turku-science-park": [("PilotClosed", {"outcome": "lost"}, "payload.outcome", _with("payload.outcome", "failed"))],
    "vasteras-science-park": [
        # Local time exported without its offset.
        ("MeetingHeld", {}, "occurred_at", _with("occurred_at", lambda ts: ts.removesuffix("Z"))),
        ("AgreementSigned", {}, "payload.currency", _with("payload.currency", "EUR")),
    ],
}


def encode_line(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


# --- the files --------------------------------------------------------------------------------------


def render() -> dict[str, str]:
    """File name -> exact text of every generated file."""
    rng = random.Random(SEED)
    programme = build_programme(rng)
    files: dict[str, str] = {}
    invalid: list[dict[str, Any]] = []
    feed: dict[str, dict[str, int]] = {}
    for plan in PARTNERS:
        lines = partner_lines(rng, plan, programme[plan.partner_id])
        files[f"{plan.partner_id}.jsonl"] = "".join(encode_line(line.body) + "\n" for line in lines)
        for number, line in enumerate(lines, start=1):
            if line.invalid_field:
                invalid.append({"partner": plan.partner_id, "line": number, "field": line.invalid_field})
        kinds = Counter(line.kind for line in lines)
        feed[plan.partner_id] = {
            "lines": len(lines),
            "invalid": kinds["invalid"],
            "duplicates": kinds["duplicate"],
            "distinct_events": kinds["event"],
        }
    expected = {
        "scenario": "4smartgrowth",
        "seed": "shared/seed/4smartgrowth-project-summary.md",
        "period": {"from": "2019-04-01", "to": "2021-12-31"},
        "stall_threshold_days": STALL_THRESHOLD_DAYS,
        "kpis": programme_figures(programme),
        "funnels": {partner: funnel(partner, smes) for partner, smes in programme.items()},
        "feed": {"total": dict(sum((Counter(f) for f in feed.values()), Counter())), "partners": feed},
        "invalid_events": {"count": len(invalid), "events": invalid},
    }
    files["expected.json"] = json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the files on disk differ")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    files = render()
    if args.check:
        stale = [
            name
            for name, text in files.items()
            if not (args.out / name).is_file() or (args.out / name).read_text(encoding="utf-8") != text
        ]
        for name in stale:
            print(f"stale: {args.out / name}", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
