"""docs/contract.md says what the models say: envelope fields, every event type with its payload
fields (optional ones marked `?`) and their fixed values, the topics."""

import re
import typing
from pathlib import Path

from crm.contract.events import ALERT_EVENT_TYPES, DOMAIN_EVENT_TYPES, Envelope, Payload
from crm.contract.topics import DLQ_HEADERS, TOPIC_DEFAULTS

CONTRACT = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text()
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _section(title: str) -> str:
    start = CONTRACT.index(f"\n## {title}\n")
    end = CONTRACT.find("\n## ", start + 1)
    return CONTRACT[start : end if end > 0 else None]


def _table_rows(text: str) -> list[list[str]]:
    """The body rows of every table in `text` (not the headers, not the rules under them)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    rule = [not set("".join(row)) - set("-: ") for row in rows]
    return [row for i, row in enumerate(rows) if not rule[i] and not (i + 1 < len(rows) and rule[i + 1])]


def _documented_payloads(text: str) -> dict[str, str]:
    return {row[0].strip("`"): row[1] for row in _table_rows(text)}


def _fields(cell: str) -> dict[str, tuple[bool, set[str]]]:
    """`name`, `hours?`, `format` (`digital`, `physical`) → {name: (optional, fixed values)}."""
    fields: dict[str, tuple[bool, set[str]]] = {}
    for match in re.finditer(r"`([a-z_]+)(\??)`(?: \(([^)]*)\))?", cell):
        name, optional, note = match.groups()
        values = set(re.findall(r"`([a-z_]+)`", note or ""))
        fields[name] = (optional == "?", values)
    return fields


def _modelled(payload: type[Payload]) -> dict[str, tuple[bool, set[str]]]:
    fields = {}
    for name, info in payload.model_fields.items():
        literals: set[str] = set()
        annotation = info.annotation
        for candidate in (annotation, *typing.get_args(annotation)):
            if typing.get_origin(candidate) is typing.Literal:
                literals |= set(typing.get_args(candidate))
        fields[name] = (not info.is_required(), literals)
    return fields


def test_the_catalogue_lists_every_event_type_with_the_models_fields() -> None:
    documented = _documented_payloads(_section("Event catalogue"))
    assert set(documented) == {model.__name__ for model in (*DOMAIN_EVENT_TYPES, *ALERT_EVENT_TYPES)}
    for model in (*DOMAIN_EVENT_TYPES, *ALERT_EVENT_TYPES):
        payload = model.model_fields["payload"].annotation
        assert isinstance(payload, type) and issubclass(payload, Payload)
        documented_fields = _fields(documented[model.__name__])
        modelled = _modelled(payload)
        assert set(documented_fields) == set(modelled), model.__name__
        for name, (optional, values) in modelled.items():
            assert documented_fields[name][0] == optional, f"{model.__name__}.{name}: `?` must mark optional fields"
            if values:  # a fixed set of values is listed in full
                assert documented_fields[name][1] == values, f"{model.__name__}.{name}"


def test_the_envelope_table_lists_the_envelope_fields() -> None:
    rows = _table_rows(_section("Event envelope"))
    documented = [row[0].strip("`") for row in rows]
    assert documented == [*Envelope.model_fields, "payload"]


def test_the_topics_and_dead_letter_headers_are_the_codes() -> None:
    kafka = _section("Kafka")
    assert [row[0].split("`")[1] for row in _table_rows(kafka)] == list(TOPIC_DEFAULTS.values())
    for header in DLQ_HEADERS:
        assert f"`{header}`" in kafka


def test_the_readme_links_the_contract_in_the_repository() -> None:
    assert "](docs/contract.md)" in README
    assert "../shared/CONTRACT.md" not in README


def test_the_programmes_section_and_the_programme_of_smes_in_responses_are_documented() -> None:
    from crm.query.api.models import Sme

    assert "An SME's programme is the one of its selection" in _section("Programmes")
    http = _section("HTTP")
    assert "programme_id" in Sme.model_fields and "`programme_id` (of its" in http
    for endpoint in ("/v1/programme/kpis", "/funnel"):
        line = next(line for line in http.splitlines() if endpoint in line and line.startswith("- `GET"))
        assert "`programme`" in line + http[http.index(line) + len(line) :].split("\n- ")[0], endpoint


def test_the_kpis_shape_lists_the_progress_figures_and_where_their_targets_come_from() -> None:
    from crm.programmes.kpi_targets import PROGRESS_MEASURES
    from crm.query.api.models import KpiFigures, Progress

    http = _section("HTTP")
    kpis = http[http.index("- KPIs:") :].split("\n- ")[0]
    for name in KpiFigures.model_fields:
        assert f'"{name}"' in kpis, name
    for name in Progress.model_fields:
        assert f'"{name}"' in kpis, name
    for figure, (measure, agreement_type) in PROGRESS_MEASURES.items():
        assert f'"{figure}"' in kpis and f"`{measure.value}`" in kpis, figure
        assert agreement_type is None or f"`{agreement_type}`" in kpis
    assert "`null`" in kpis
