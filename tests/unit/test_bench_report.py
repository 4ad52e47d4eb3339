"""The benchmark suite's pure parts: percentiles, ratios and targets, the table, the JSON record."""

import io
import json

import pytest
from bench.memory import vm_hwm_kib, vm_rss_kib
from bench.report import Reference, Row, RunRecord, Target, markdown, table
from bench.stats import StepOutcome, lag_is_bounded, latency_summary, percentile, rate_ramp
from rich.console import Console


def test_nearest_rank_percentiles() -> None:
    samples = [float(n) for n in range(100, 0, -1)]  # 1..100, unsorted
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 99) == 7.0


def test_p99_of_few_samples_is_the_largest() -> None:
    assert percentile([0.01] * 50 + [0.9], 99) == 0.9


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary([0.010, 0.020, 0.030, 0.500])
    assert summary == {"p50_ms": 20.0, "p99_ms": 500.0, "max_ms": 500.0, "samples": 4.0}


def test_ratios_against_ceiling_and_baseline() -> None:
    row = Row("replay", "projector", 3000.0, "events/s", Reference("consume", 120_000.0), Reference("naive", 250.0))
    assert row.vs_ceiling == pytest.approx(0.025)
    assert row.vs_baseline == pytest.approx(12.0)
    assert Row("g", "f", 1.0, "x", Reference("zero", 0.0)).vs_ceiling is None
    assert Row("g", "f", 1.0, "x").vs_baseline is None


def test_every_target_must_be_met() -> None:
    targets = (Target(20_000.0), Target(0.4, on="vs_ceiling"))
    fast_but_far = Row("r", "p", 25_000.0, "events/s", ceiling=Reference("c", 100_000.0), targets=targets)
    assert fast_but_far.verdict() is False
    both = Row("r", "p", 50_000.0, "events/s", ceiling=Reference("c", 100_000.0), targets=targets)
    assert both.verdict() is True
    assert Row("r", "p", 1.0, "x").verdict() is None


def test_upper_bounds_are_strict() -> None:
    under = Target(100.0, at_least=False)
    assert under.met(Row("e2e", "p99", 99.9, "ms")) is True
    assert under.met(Row("e2e", "p99", 100.0, "ms")) is False


def test_a_ratio_target_without_its_reference_is_not_met() -> None:
    row = Row("r", "p", 50_000.0, "events/s", targets=(Target(0.4, on="vs_ceiling"),))
    assert row.verdict() is False


def test_json_record_carries_figures_ratios_and_verdicts() -> None:
    row = Row(
        "replay",
        "projector",
        3000.0,
        "events/s",
        Reference("consume", 120_000.0),
        Reference("naive", 250.0),
        (Target(20_000.0),),
    )
    memory = Row("memory", "gateway peak RSS", 120.0, "MB", targets=(Target(300.0, at_least=False),))
    record = RunRecord("2026-11-27T12:00:00+00:00", True, 95.4, {"cpus": 2}, {"python": "3.11"}, {}, [row, memory])
    document = json.loads(json.dumps(record.as_json()))
    first = document["rows"][0]
    assert first["ceiling"] == {"label": "consume", "value": 120_000.0}
    assert first["vs_ceiling"] == 0.025 and first["vs_baseline"] == 12.0
    assert first["met"] is False and first["targets"][0]["met"] is False
    assert document["rows"][1]["met"] is True
    assert (document["targets_met"], document["targets_not_met"]) == (1, 1)


def test_table_and_markdown_show_every_row() -> None:
    rows = [
        Row("replay", "projector", 3000.0, "events/s", Reference("consume", 120_000.0), targets=(Target(20_000.0),)),
        Row("replay", "2 workers", 3500.0, "events/s", baseline=Reference("1 worker", 3000.0)),
        Row("memory", "query peak RSS", float("nan"), "MB", note="not observed"),
    ]
    out = io.StringIO()
    Console(file=out, width=250).print(table(rows, "run"))
    text = out.getvalue()
    assert "projector" in text and "2 workers" in text and "NOT met" in text and "n/a" in text
    assert "1.17x" in text  # 3500 / 3000
    lines = markdown(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert "| replay | projector | 3,000 | events/s | 120,000 consume | 0.025x |" in lines[2]


def test_vm_hwm_is_read_from_proc_status() -> None:
    status = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  100000 kB\n"
    assert vm_hwm_kib(status) == 204800
    assert vm_hwm_kib("Name:\tkthreadd\n") is None
    assert vm_rss_kib(status) == 100000  # resident now, not the peak
    assert vm_rss_kib("Name:\tkthreadd\n") is None


def _step(freshness: list[float], *, rate: float = 1000.0, accepted: float = 1000.0, invisible: int = 0) -> StepOutcome:
    return StepOutcome(rate, accepted, freshness, invisible)


def test_a_steady_lag_is_sustained() -> None:
    assert lag_is_bounded(_step([0.2, 0.25, 0.18, 0.22, 0.3, 0.21, 0.19, 0.24, 0.2]))[0] is True


def test_a_growing_lag_is_not_sustained() -> None:
    growing = [0.1 * n for n in range(1, 31)]
    sustained, reason = lag_is_bounded(_step(growing))
    assert sustained is False and "growing" in reason


def test_lost_probes_or_a_gateway_falling_behind_are_not_sustained() -> None:
    steady = [0.2] * 9
    assert lag_is_bounded(_step(steady, invisible=1))[0] is False
    assert lag_is_bounded(_step(steady, accepted=700.0))[0] is False


def test_rate_ramp() -> None:
    assert rate_ramp(1500.0, 1.5, 6000.0) == [1500.0, 2250.0, 3380.0, 5060.0]
    assert rate_ramp(1500.0, 1.5, 1000.0) == []
