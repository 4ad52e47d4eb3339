"""docs/configuration.md is generated from the settings (`crm.settings_reference`): the checked-in
page is what the code gives, and it names every `CRM_*` variable the code reads."""

import re
from pathlib import Path

import pytest

from crm import settings_reference
from crm.settings import GROUPS, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_checked_in_page_is_the_generated_one() -> None:
    on_disk = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert on_disk == settings_reference.render(), "stale: run `python -m crm.settings_reference` and commit the result"


def test_every_setting_is_in_exactly_one_group_in_the_settings_order() -> None:
    grouped = [name for group in GROUPS for name in group.model_fields]
    assert grouped == list(Settings.model_fields)


def test_the_page_lists_every_variable_the_code_reads_from_the_environment() -> None:
    page = settings_reference.render()
    read_directly = {
        name
        for path in (ROOT / "services" / "crm").rglob("*.py")
        for name in re.findall(r"os\.environ(?:\.get\(|\[)\"(CRM_[A-Z_]+)\"", path.read_text(encoding="utf-8"))
    }
    assert read_directly == set(settings_reference.OUTSIDE_SETTINGS)
    for name in [f"CRM_{field.upper()}" for field in Settings.model_fields] + sorted(read_directly):
        assert f"| `{name}` |" in page, name


def test_a_setting_without_a_description_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    field = Settings.model_fields["kafka_heap"]
    monkeypatch.setattr(field, "description", None)
    with pytest.raises(ValueError, match="kafka_heap"):
        settings_reference.render()
