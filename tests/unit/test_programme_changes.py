"""The changes `crm programme apply` shows against the stored definition."""

from pathlib import Path

from crm.programmes.changes import changes
from crm.programmes.loading import load_programme
from crm.programmes.store import canonical

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


def test_a_new_order_alone_is_a_change_and_is_named() -> None:
    stored = load_programme(SHIPPED)
    reordered = stored.model_copy(
        update={
            "partners": [*stored.partners[1:], stored.partners[0]],
            "indicators": stored.indicators[::-1],
            "markets": stored.markets[::-1],
        }
    )
    assert canonical(reordered) != canonical(stored)  # so apply stores it as a new version
    partners = [p.id for p in stored.partners]
    codes = [i.code for i in stored.indicators]
    assert changes(stored, reordered) == [
        "~ markets: ['CN', 'VN', 'CL'] → ['CL', 'VN', 'CN']",
        f"~ order of partners: {', '.join(partners)} → {', '.join(partners[1:] + partners[:1])}",
        f"~ order of indicators: {', '.join(codes)} → {', '.join(codes[::-1])}",
    ]


def test_an_added_item_does_not_read_as_a_new_order() -> None:
    stored = load_programme(SHIPPED)
    extra = stored.indicators[0].model_copy(update={"code": "NEW-1"})
    grown = stored.model_copy(update={"indicators": [extra, *stored.indicators]})
    assert changes(stored, grown) == ["+ indicator NEW-1 (smes_in_matchmaking, target 30)"]
