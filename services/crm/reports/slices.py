"""A partner's slice of a report: its own figures, agreements, pilots and companies, nothing of others'.

Pure: the slice of a frozen document is computed from its stored bytes, the same way every time,
so a partner's frozen slice is byte-identical forever too.
"""

from typing import Any


def partner_slice(document: dict[str, Any], partner_id: str) -> dict[str, Any]:
    """The document as `partner_id` may read it: each indicator's figures and target are the
    partner's own; lists hold its own rows; shared companies only those its own SMEs share."""
    indicators = []
    for indicator in document["indicators"]:
        own = indicator["by_partner"].get(partner_id) or {
            "target": None,
            "previously_reported": None,
            "this_period": 0,
            "cumulative": 0,
        }
        indicators.append(indicator | own | {"milestone": None, "by_partner": {partner_id: own}})
    shared = []
    for company in document["shared_companies"]:
        smes = [sme for sme in company["smes"] if sme[0] == partner_id]
        if len(smes) > 1:
            shared.append({"company": company["company"], "partners": [partner_id], "smes": smes})
    return document | {
        "slice": {"partner_id": partner_id},
        "partners": [p for p in document["partners"] if p["id"] == partner_id],
        "indicators": indicators,
        "agreements_signed": [a for a in document["agreements_signed"] if a["partner_id"] == partner_id],
        "pilots_in_discussion": [p for p in document["pilots_in_discussion"] if p["partner_id"] == partner_id],
        "shared_companies": shared,
    }
