"""The 4SmartGrowth replay data (scenario/4smartgrowth/): it decodes, its noise is real, and a plain
count over its valid, de-duplicated events gives the figures in expected.json and in the seed."""

import importlib.util
import json
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crm.contract.decoding import InvalidEvents, decode_event
from crm.contract.events import DomainEvent
from crm.demo.scenario import Scenario, ScenarioError, default_scenario_path, load_scenario
from crm.programmes.loading import load_programme

SCENARIO_DIR = default_scenario_path("4smartgrowth")
GENERATOR = SCENARIO_DIR.parent / "generate_4smartgrowth.py"
PARTNERS = ["business-tampere", "sisp", "tehnopol", "turku-science-park", "vasteras-science-park"]
PROGRAMME_START = datetime(2019, 4, 1, tzinfo=UTC)
PROGRAMME_END = datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)
STAGES = ["selected", "trained", "met", "piloting", "agreement"]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(SCENARIO_DIR)


@pytest.fixture(scope="module")
def accepted(scenario: Scenario) -> dict[str, list[DomainEvent]]:
    """Per partner, the events a gateway accepts, first copy of each event_id only, in send order."""
    events: dict[str, list[DomainEvent]] = {}
    for partner, feed in scenario.feeds.items():
        seen: set[str] = set()
        events[partner] = []
        for number, line in feed.numbered():
            if scenario.refused(partner, number):
                continue
            event = decode_event(line)
            if str(event.event_id) not in seen:
                seen.add(str(event.event_id))
                events[partner].append(event)
    return events


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_4smartgrowth", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


# --- the files ---------------------------------------------------------------------------------------


def test_regenerating_gives_the_checked_in_files_byte_for_byte() -> None:
    rendered = load_generator().render()
    # The README and programme.toml (the programme definition) are written by hand.
    generated = [path for path in SCENARIO_DIR.iterdir() if path.suffix not in (".md", ".toml")]
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in generated}
    assert sorted(rendered) == sorted(on_disk)
    for name, text in rendered.items():
        assert text == on_disk[name], f"{name} is stale: run python scenario/generate_4smartgrowth.py"


def test_there_is_one_feed_per_programme_partner(scenario: Scenario) -> None:
    assert list(scenario.feeds) == PARTNERS
    assert sorted(p.id for p in load_programme(SCENARIO_DIR / "programme.toml").partners) == sorted(PARTNERS)
    for partner, feed in scenario.feeds.items():
        assert feed.lines, partner
        assert all(isinstance(line, bytes) for line in feed.lines)


def test_every_line_but_the_intended_invalid_ones_decodes_for_its_own_partner(scenario: Scenario) -> None:
    for partner, feed in scenario.feeds.items():
        for number, line in feed.numbered():
            if scenario.refused(partner, number):
                continue
            event = decode_event(line)
            assert event.partner_id == partner, f"{partner}:{number}"
            assert (
                datetime(2019, 4, 1, tzinfo=UTC) <= event.occurred_at <= datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)
            )


def test_each_intended_invalid_line_is_refused_naming_the_recorded_field(scenario: Scenario) -> None:
    assert scenario.expected.invalid
    for invalid in scenario.expected.invalid:
        line = scenario.feeds[invalid.partner_id].lines[invalid.line - 1]
        with pytest.raises(InvalidEvents) as refused:
            decode_event(line)
        assert [p.field for p in refused.value.problems] == [invalid.field], invalid


def test_a_duplicate_is_the_same_envelope_byte_for_byte(scenario: Scenario) -> None:
    for partner, feed in scenario.feeds.items():
        first: dict[str, bytes] = {}
        for number, line in feed.numbered():
            if scenario.refused(partner, number):
                continue
            event_id = json.loads(line)["event_id"]
            assert first.setdefault(event_id, line) == line, f"{partner}:{number} reuses {event_id}"


# --- the noise ---------------------------------------------------------------------------------------


def test_the_feeds_carry_duplicates_late_events_and_refusals(
    scenario: Scenario, accepted: dict[str, list[DomainEvent]]
) -> None:
    valid_lines = {
        partner: [line for number, line in feed.numbered() if not scenario.refused(partner, number)]
        for partner, feed in scenario.feeds.items()
    }
    duplicates = {partner: len(lines) - len(accepted[partner]) for partner, lines in valid_lines.items()}
    late = {partner: late_events(events) for partner, events in accepted.items()}
    refusals = Counter(invalid.partner_id for invalid in scenario.expected.invalid)

    assert sum(duplicates.values()) >= 10 and all(duplicates[p] >= 1 for p in PARTNERS), duplicates
    assert sum(late.values()) >= 25 and all(late[p] >= 2 for p in PARTNERS), late
    assert len(scenario.expected.invalid) >= 5 and all(refusals[p] >= 1 for p in PARTNERS), refusals
    fields = {invalid.field for invalid in scenario.expected.invalid}
    assert {
        "occurred_at",
        "event_type",
        "payload.market",
        "payload.counterpart",
    } <= fields  # naive, unknown, code, missing


def late_events(events: list[DomainEvent]) -> int:
    """Events that happened before something the partner had already sent."""
    latest, late = None, 0
    for event in events:
        if latest is not None and event.occurred_at < latest:
            late += 1
        latest = event.occurred_at if latest is None else max(latest, event.occurred_at)
    return late


def test_some_feeds_contradict_causality_in_send_order(accepted: dict[str, list[DomainEvent]]) -> None:
    def position(events: list[DomainEvent], event_type: str, **payload: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for index, event in enumerate(events):
            fields = event.payload.model_dump()
            if event.event_type == event_type and all(fields.get(k) == v for k, v in payload.items()):
                found.setdefault(str(fields.get("pilot_id") or event.sme_id), index)
        return found

    tampere = accepted["business-tampere"]
    opened, closed = position(tampere, "PilotOpened"), position(tampere, "PilotClosed")
    assert any(closed[pilot] < opened[pilot] for pilot in closed), "a pilot closed before it was opened"
    for partner in ("tehnopol", "turku-science-park"):
        events = accepted[partner]
        selected = position(events, "SMESelected")
        first_seen: dict[str, int] = {}
        for index, event in enumerate(events):
            first_seen.setdefault(event.sme_id, index)
        assert any(first_seen[sme] < selected[sme] for sme in selected), f"{partner}: an SME seen before selected"


# --- an independent count ----------------------------------------------------------------------------


def count_kpis(events: list[DomainEvent], as_of: datetime, stall_days: int) -> dict[str, Any]:
    """docs/contract.md's derived figures, by the plainest reading of the rules."""
    selected, withdrawn, in_matchmaking = set(), set(), set()
    markets: set[str] = set()
    agreements: dict[str, tuple[str, str]] = {}
    opened, closed = set(), set()
    activity: dict[str, datetime] = {}

    def touch(pilot_id: str | None, at: datetime) -> None:
        if pilot_id:
            activity[pilot_id] = max(activity.get(pilot_id, at), at)

    for e in events:
        sme = (e.partner_id, e.sme_id)
        p: Any = e.payload
        match e.event_type:
            case "SMESelected":
                selected.add(sme)
            case "SMEWithdrawn":
                withdrawn.add(sme)
            case "MeetingHeld":
                if p.format == "digital":
                    in_matchmaking.add(sme)
                    markets.add(p.market)
                touch(p.pilot_id and f"{e.partner_id}/{p.pilot_id}", e.occurred_at)
            case "PilotOpened":
                opened.add(f"{e.partner_id}/{p.pilot_id}")
                touch(f"{e.partner_id}/{p.pilot_id}", e.occurred_at)
            case "PilotUpdated":
                touch(f"{e.partner_id}/{p.pilot_id}", e.occurred_at)
            case "PilotClosed":
                closed.add(f"{e.partner_id}/{p.pilot_id}")
            case "AgreementSigned":
                agreements[f"{e.partner_id}/{p.agreement_id}"] = (p.agreement_type, p.market)
                touch(p.pilot_id and f"{e.partner_id}/{p.pilot_id}", e.occurred_at)
    in_discussion = opened - closed
    stall_limit = as_of - timedelta(days=stall_days)
    return {
        "smes_selected": len(selected),
        "smes_withdrawn": len(withdrawn),
        "smes_in_matchmaking": len(in_matchmaking),
        "matchmaking_markets": sorted(markets),
        "agreements_by_type": dict(Counter(kind for kind, _ in agreements.values())),
        "agreements_by_market": dict(Counter(market for _, market in agreements.values())),
        "pilots_in_discussion": len(in_discussion),
        "pilots_stalled": sum(1 for pilot in in_discussion if activity[pilot] < stall_limit),
    }


def count_funnel(partner: str, events: list[DomainEvent]) -> dict[str, Any]:
    reached: dict[str, int] = defaultdict(int)
    reached_in: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rank = {"SMESelected": 0, "TrainingCompleted": 1, "MeetingHeld": 2, "PilotOpened": 3, "AgreementSigned": 4}
    for e in events:
        if e.event_type not in rank:
            continue
        reached[e.sme_id] = max(reached[e.sme_id], rank[e.event_type])
        market = getattr(e.payload, "market", None)
        if market:
            reached_in[market][e.sme_id] = max(reached_in[market][e.sme_id], rank[e.event_type])
    stages = {stage: sum(1 for r in reached.values() if r >= i) for i, stage in enumerate(STAGES)}
    by_market = {
        market: {stage: sum(1 for r in smes.values() if r >= i) for i, stage in enumerate(STAGES) if i >= 2}
        for market, smes in sorted(reached_in.items())
    }
    return {"partner_id": partner, "stages": stages, "by_market": by_market}


def test_a_plain_count_over_the_accepted_events_gives_expected_kpis(
    scenario: Scenario, accepted: dict[str, list[DomainEvent]]
) -> None:
    kpis = scenario.expected.kpis
    as_of = datetime.fromisoformat(kpis["as_of"])
    stall_days = scenario.expected.stall_threshold_days
    everything = [event for events in accepted.values() for event in events]
    counted = count_kpis(everything, as_of, stall_days)
    assert counted == {key: value for key, value in kpis.items() if key not in ("as_of", "partners")}
    assert list(kpis["partners"]) == [p for p in kpis["partners"] if p in PARTNERS]
    for partner, events in accepted.items():
        assert count_kpis(events, as_of, stall_days) == kpis["partners"][partner], partner


def test_a_plain_count_over_the_accepted_events_gives_expected_funnels(
    scenario: Scenario, accepted: dict[str, list[DomainEvent]]
) -> None:
    assert sorted(scenario.expected.funnels) == PARTNERS
    for partner, events in accepted.items():
        assert count_funnel(partner, events) == scenario.expected.funnels[partner], partner


def test_the_figures_do_not_depend_on_how_a_reader_breaks_ties(accepted: dict[str, list[DomainEvent]]) -> None:
    """Every SME with a pilot in a market met there, every agreement holder piloted there, and no
    open pilot belongs to a withdrawn SME: the per-market funnel reads the same literally or cumulatively,
    and withdrawal never decides whether a pilot is in discussion."""
    for partner, events in accepted.items():
        met, piloting, signed = set(), set(), set()
        withdrawn, open_pilots = set(), {}
        for e in events:
            p: Any = e.payload
            if e.event_type == "MeetingHeld":
                met.add((e.sme_id, p.market))
            elif e.event_type == "PilotOpened":
                piloting.add((e.sme_id, p.market))
                open_pilots[p.pilot_id] = e.sme_id
            elif e.event_type == "AgreementSigned":
                signed.add((e.sme_id, p.market))
            elif e.event_type == "SMEWithdrawn":
                withdrawn.add(e.sme_id)
        for e in events:
            if e.event_type == "PilotClosed":
                open_pilots.pop(e.payload.pilot_id, None)
        assert signed <= piloting <= met, partner
        assert not withdrawn & set(open_pilots.values()), partner


def test_nothing_names_a_pilot_after_it_closed_or_an_sme_after_it_left(accepted: dict[str, list[DomainEvent]]) -> None:
    for partner, events in accepted.items():
        closed = {e.payload.pilot_id: e.occurred_at for e in events if e.event_type == "PilotClosed"}
        left = {e.sme_id: e.occurred_at for e in events if e.event_type == "SMEWithdrawn"}
        for e in events:
            pilot_id = getattr(e.payload, "pilot_id", None)
            if e.event_type != "PilotClosed" and pilot_id in closed:
                assert e.occurred_at < closed[pilot_id], (partner, pilot_id)
            if e.event_type != "SMEWithdrawn" and e.sme_id in left:
                assert e.occurred_at < left[e.sme_id], (partner, e.sme_id)


def test_stalled_or_not_is_never_a_matter_of_a_day(scenario: Scenario, accepted: dict[str, list[DomainEvent]]) -> None:
    as_of = datetime.fromisoformat(scenario.expected.kpis["as_of"])
    for events in accepted.values():
        last: dict[str, datetime] = {}
        closed = set()
        for e in events:
            pilot_id = getattr(e.payload, "pilot_id", None)
            if e.event_type == "PilotClosed":
                closed.add(pilot_id)
            elif pilot_id:
                last[pilot_id] = max(last.get(pilot_id, e.occurred_at), e.occurred_at)
        for pilot_id, moment in last.items():
            idle_days = (as_of - moment).days
            assert pilot_id in closed or not 27 <= idle_days <= 33, pilot_id


def test_expected_figures_are_the_seeds_results(scenario: Scenario) -> None:
    kpis = scenario.expected.kpis
    assert kpis["as_of"] == "2021-12-31T23:59:59Z"
    assert kpis["smes_in_matchmaking"] == 35
    assert kpis["matchmaking_markets"] == ["CL", "CN", "VN"]
    assert kpis["agreements_by_type"] == {"sales": 3, "commercial_representation": 2}
    assert kpis["pilots_in_discussion"] == 41
    assert sum(kpis["agreements_by_market"].values()) == 5
    assert 50 <= kpis["smes_selected"] <= 60 and 1 <= kpis["smes_withdrawn"] <= 2
    for figure in ("smes_selected", "smes_withdrawn", "smes_in_matchmaking", "pilots_in_discussion"):
        assert sum(partner[figure] for partner in kpis["partners"].values()) == kpis[figure], figure


def test_sales_agreements_are_two_in_china_and_one_in_chile(accepted: dict[str, list[DomainEvent]]) -> None:
    sales = Counter(
        e.payload.market
        for events in accepted.values()
        for e in events
        if e.event_type == "AgreementSigned" and e.payload.agreement_type == "sales"
    )
    assert sales == {"CN": 2, "CL": 1}


def test_feed_statistics_in_expected_match_the_files(
    scenario: Scenario, accepted: dict[str, list[DomainEvent]]
) -> None:
    feed = scenario.expected.feed
    for partner, lines in scenario.feeds.items():
        invalid = sum(1 for i in scenario.expected.invalid if i.partner_id == partner)
        assert feed["partners"][partner] == {
            "lines": len(lines.lines),
            "invalid": invalid,
            "duplicates": len(lines.lines) - invalid - len(accepted[partner]),
            "distinct_events": len(accepted[partner]),
        }
    assert feed["total"]["distinct_events"] == sum(len(events) for events in accepted.values())


# --- the loader --------------------------------------------------------------------------------------


def test_loader_keeps_lines_as_sent_and_numbers_them_from_one(tmp_path: Path, scenario: Scenario) -> None:
    folder = tmp_path / "mini"
    folder.mkdir()
    (folder / "sisp.jsonl").write_bytes(b'{"a":1}\n{"b":"\xc3\xa5"}\n')
    expected = {
        "kpis": {"partners": {"sisp": {}}},
        "funnels": {},
        "feed": {},
        "stall_threshold_days": 30,
        "invalid_events": {"count": 1, "events": [{"partner": "sisp", "line": 2, "field": "payload"}]},
    }
    (folder / "expected.json").write_text(json.dumps(expected))
    mini = load_scenario(folder)
    assert mini.feeds["sisp"].numbered() == [(1, b'{"a":1}'), (2, b'{"b":"\xc3\xa5"}')]
    assert mini.refused("sisp", 2) is not None and mini.refused("sisp", 1) is None
    assert mini.name == "mini"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"invalid_events": {"count": 1, "events": [{"partner": "sisp", "line": 9, "field": "x"}]}}, "no line 9"),
        ({"kpis": {"partners": {"sisp": {}, "tehnopol": {}}}}, "differ"),
        ({"invalid_events": {"count": 2, "events": []}}, "count"),
    ],
)
def test_loader_refuses_an_inconsistent_folder(tmp_path: Path, change: dict[str, Any], complaint: str) -> None:
    (tmp_path / "sisp.jsonl").write_bytes(b'{"a":1}\n')
    expected = {
        "kpis": {"partners": {"sisp": {}}},
        "funnels": {},
        "feed": {},
        "stall_threshold_days": 30,
        "invalid_events": {"count": 0, "events": []},
    } | change
    (tmp_path / "expected.json").write_text(json.dumps(expected))
    with pytest.raises(ScenarioError, match=complaint):
        load_scenario(tmp_path)
