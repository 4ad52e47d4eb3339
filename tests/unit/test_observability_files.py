"""infra/observability/ uses only metrics the code defines, and scrapes every service."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import Metric

import crm.observability.metrics  # noqa: F401 - defines the services' metrics in REGISTRY
from crm.projector.status import ProjectorStatus
from crm.status_metrics import _Snapshot

FILES = Path(__file__).resolve().parents[2] / "infra" / "observability"
NAME = re.compile(r"\bcrm_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exposed(families: Iterator[Metric]) -> set[str]:
    """The sample names a family shows on /metrics (a labelled family before its first sample too)."""
    return {family.name + suffix for family in families for suffix in SUFFIXES.get(family.type, ("",))}


def defined_names() -> set[str]:
    snapshot = CollectorRegistry()
    snapshot.register(
        _Snapshot(ProjectorStatus("g", "t", [], 0, None, None), [], {})
    )  # `crm status --format prometheus`
    return {name for name in exposed(REGISTRY.collect()) | exposed(snapshot.collect()) if name.startswith("crm_")}


def expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


@pytest.mark.parametrize("file", ["alert-rules.yml", "grafana-dashboard.json"])
def test_every_metric_name_used_exists(file: str) -> None:
    text = (FILES / file).read_text()
    document = json.loads(text) if file.endswith(".json") else yaml.safe_load(text)
    used = {name for expr in expressions(document) for name in NAME.findall(expr)}
    assert used, f"{file}: no expression found"
    assert sorted(used - defined_names()) == []


def test_the_rules_cover_what_operators_are_promised() -> None:
    rules = yaml.safe_load((FILES / "alert-rules.yml").read_text())["groups"][0]["rules"]
    assert {rule["alert"] for rule in rules} >= {
        "CrmProjectorLagGrowing",
        "CrmDeadLettersArriving",
        "CrmWebhookDeliveriesFailing",
        "CrmServiceNotReady",
    }
    assert all(rule["annotations"]["summary"] for rule in rules)


def test_prometheus_scrapes_every_service_and_loads_the_rules() -> None:
    config = yaml.safe_load((FILES / "prometheus.yml").read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == {
        "crm-gateway",
        "crm-query",
        "crm-projector",
        "crm-alerts",
    }
    assert all((FILES / name).exists() for name in config["rule_files"])
