"""The changes `crm programme apply` shows against the stored definition."""

from pathlib import Path

from crm.programmes.changes import changes
from crm.programmes.loading import load_programme

SHIPPED = Path(__file__).resolve().parents[2] / "scenario" / "4smartgrowth" / "programme.toml"


def test_a_new_programme_is_one_line_and_an_unchanged_one_none() -> None:
    programme = load_programme(SHIPPED)
    assert changes(None, programme) == [
        f"+ programme 4smartgrowth ({programme.name}): 5 partners, 6 periods, 8 indicators"
    ]
    assert changes(programme, programme) == []


def test_added_removed_and_changed_items_are_named(tmp_path: Path) -> None:
    stored = load_programme(SHIPPED)
    text = SHIPPED.read_text(encoding="utf-8")
    edited = (
        text.replace("report_deadline = 2020-06-30", "report_deadline = 2020-07-15")
        .replace('code = "OUT-5"', 'code = "OUT-6"')
        .replace('markets = ["CN", "VN", "CL"]', 'markets = ["CN", "VN"]')
    )
    path = tmp_path / "edited-programme.toml"
    path.write_text(edited, encoding="utf-8")
    assert changes(stored, load_programme(path)) == [
        "~ markets: ['CN', 'VN', 'CL'] → ['CN', 'VN']",
        "~ period 2: report_deadline: 2020-06-30 → 2020-07-15",
        "- indicator OUT-5",
        "+ indicator OUT-6 (pilots_in_discussion, target 40)",
    ]
