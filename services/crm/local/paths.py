"""Where the project's own files are, independent of the current directory."""

from pathlib import Path


def project_root() -> Path:
    """The checkout: `services/crm/local/paths.py` sits three levels below it."""
    return Path(__file__).resolve().parents[3]


def kafka_pom() -> Path:
    return project_root() / "infra" / "kafka" / "pom.xml"
