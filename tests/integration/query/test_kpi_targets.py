"""`GET /v1/programme/kpis`'s targets, on the real PostgreSQL: from the indicators of the
programme asked for (or the deployment's default programme), programme-wide and per partner;
`null` for a figure without a matching indicator and for a programme without a file."""

import json
from typing import Any

import pytest

from crm.contract.decoding import decode_event
from crm.settings import Settings
from tests.support.events import envelope
from tests.support.programmes import apply_programme, programme_file
from tests.support.query import load_into_read_models, running_query_api

pytestmark = pytest.mark.infra

# Ignored, each for one reason: counted per period, filtered to one market, another agreement type.
INDICATORS = """
[[indicators]]
code = "MM-P"
name = "In matchmaking per period"
unit = "SMEs"
measure = "smes_in_matchmaking"
mode = "in_period"
target = 5
[[indicators]]
code = "MM"
name = "In matchmaking"
unit = "SMEs"
measure = "smes_in_matchmaking"
target = 12
partner_targets = { tehnopol = 7 }
[[indicators]]
code = "SALES-CN"
name = "Sales in China"
unit = "agreements"
measure = "agreements"
agreement_type = "sales"
market = "CN"
target = 2
[[indicators]]
code = "REP"
name = "Representation"
unit = "agreements"
measure = "agreements"
agreement_type = "commercial_representation"
target = 4
[[indicators]]
code = "SALES-MARKETS"
name = "Markets with a sales agreement"
unit = "markets"
measure = "agreement_markets"
agreement_type = "sales"
target = 2.5
partner_targets = { sisp = 1 }
"""


PROG_T = {"programme_id": "prog-t"}


def targets(progress: dict[str, Any]) -> dict[str, Any]:
    return {figure: value["target"] for figure, value in progress.items()}


async def test_the_targets_are_the_indicators_of_the_programme_asked_for_or_of_the_default(isolated: Settings) -> None:
    events = [
        decode_event(json.dumps(envelope("SMESelected", partner_id=p, sme_id=f"{p}-1", schema_version=2, **PROG_T)))
        for p in ("tehnopol", "sisp")
    ]
    events.append(decode_event(json.dumps(envelope("SMESelected", sme_id="in-the-default"))))  # version 1
    await load_into_read_models(isolated, events, [])
    await apply_programme(isolated, programme_file("prog-t", ["sisp", "tehnopol"], INDICATORS))
    async with running_query_api(isolated.model_copy(update={"default_programme": "prog-t"})) as api:
        asked = (await api.get("/v1/programme/kpis", params={"programme": "prog-t"})).json()
        default = (await api.get("/v1/programme/kpis")).json()
        other = (await api.get("/v1/programme/kpis", params={"programme": "default"})).json()
        csv = (await api.get("/v1/programme/kpis", params={"programme": "prog-t", "format": "csv"})).text

    expected = {"smes_on_export_missions": 12, "sales_agreements": None, "sales_agreement_markets": 2.5}
    assert targets(asked["progress"]) == targets(default["progress"]) == expected
    assert targets(asked["partners"]["tehnopol"]["progress"]) == {
        "smes_on_export_missions": 7,
        "sales_agreements": None,
        "sales_agreement_markets": None,
    }
    assert targets(asked["partners"]["sisp"]["progress"]) == {
        "smes_on_export_missions": None,
        "sales_agreements": None,
        "sales_agreement_markets": 1,
    }
    # `default` names the deployment's implicit programme, which has no file: no targets.
    assert (asked["smes_selected"], other["smes_selected"], default["smes_selected"]) == (2, 1, 3)
    assert set(targets(other["progress"]).values()) == {None}
    for partner in other["partners"].values():
        assert set(targets(partner["progress"]).values()) == {None}
    header, programme_row = csv.splitlines()[:2]
    row = dict(zip(header.split(","), programme_row.split(","), strict=True))
    assert (row["progress.smes_on_export_missions.target"], row["progress.sales_agreements.target"]) == ("12", "")
