"""Every Kafka client the project creates connects through `client_options` (TLS, SASL), and the
settings that feed it are complete, secret and checked once."""

import ast
import ssl
from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr, ValidationError

from crm.alerts.app import faust_credentials
from crm.errors import InfrastructureError
from crm.messaging.connection import KafkaConnection, KafkaSecurity, client_options
from crm.settings import AlertsSettings, GatewaySettings, ProjectorSettings, QuerySettings, Settings
from tests.support.kafka_certificates import make_certificates

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient", "AIOKafkaClient"}
KAFKA = "127.0.0.1:9093"
DATABASE = "postgresql+asyncpg://crm@127.0.0.1/crm"


def _sources() -> list[Path]:
    return sorted([*(ROOT / "services").rglob("*.py"), *(ROOT / "bench").rglob("*.py")])


def _calls(named: set[str]) -> list[tuple[Path, ast.Call]]:
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name in named:
                    found.append((path, node))
    return found


def _spreads_client_options(call: ast.Call) -> bool:
    return any(
        k.arg is None
        and isinstance(k.value, ast.Call)
        and getattr(k.value.func, "id", getattr(k.value.func, "attr", None)) == "client_options"
        for k in call.keywords
    )


def test_every_aiokafka_client_in_the_services_and_benchmarks_is_built_with_client_options() -> None:
    calls = _calls(CLIENTS)
    assert len(calls) >= 12  # the scan sees the clients (gateway, projector, tools, query, benchmarks)
    bare = [
        f"{path.relative_to(ROOT)}:{call.lineno}"
        for path, call in calls
        if not _spreads_client_options(call) or any(k.arg == "bootstrap_servers" for k in call.keywords)
    ]
    assert bare == []


def test_the_faust_app_gets_the_broker_credentials() -> None:
    apps = _calls({"App"})
    assert apps
    assert all(any(k.arg == "broker_credentials" for k in call.keywords) for _, call in apps)


def test_plaintext_gives_the_brokers_and_nothing_else() -> None:
    assert client_options(KafkaConnection(KAFKA)) == {"bootstrap_servers": KAFKA, "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_gives_a_context_trusting_the_ca_and_the_scram_login(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    security = KafkaSecurity(
        protocol="SASL_SSL",
        ca_file=certificates.ca_file,
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="crm",
        sasl_password=SecretStr("s3cret"),
    )
    options = client_options(KafkaConnection(KAFKA, security))
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": KAFKA,
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "crm",
        "sasl_plain_password": "s3cret",
    }
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "crm test CA"),),)]


def test_a_client_certificate_is_loaded_and_hostname_checking_can_be_turned_off(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    security = KafkaSecurity(
        protocol="SSL",
        ca_file=certificates.ca_file,
        cert_file=certificates.server_cert_file,
        key_file=certificates.server_key_file,
        check_hostname=False,
    )
    options = client_options(KafkaConnection(KAFKA, security))
    assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
    assert options["ssl_context"].check_hostname is False


def test_an_unreadable_ca_file_is_an_infrastructure_error_naming_the_setting(tmp_path: Path) -> None:
    security = KafkaSecurity(protocol="SSL", ca_file=tmp_path / "absent.pem")
    with pytest.raises(InfrastructureError, match="CRM_KAFKA_SSL_CA_FILE"):
        client_options(KafkaConnection(KAFKA, security))


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT", "SSL"])
def test_faust_gets_what_every_other_client_gets(tmp_path: Path, protocol: str) -> None:
    certificates = make_certificates(tmp_path)
    security = KafkaSecurity(
        protocol=protocol,  # type: ignore[arg-type]
        ca_file=certificates.ca_file if "SSL" in protocol else None,
        sasl_mechanism="SCRAM-SHA-256" if "SASL" in protocol else None,
        sasl_username="crm" if "SASL" in protocol else None,
        sasl_password=SecretStr("pw") if "SASL" in protocol else None,
    )
    kafka = KafkaConnection(KAFKA, security)
    ours = client_options(kafka)
    faust_side = dict(credentials_to_aiokafka_auth(faust_credentials(kafka)))
    assert {k: v for k, v in faust_side.items() if v is not None and k != "ssl_context"} == {
        k: v for k, v in ours.items() if k not in ("bootstrap_servers", "ssl_context")
    }
    assert ("ssl_context" in ours) == (faust_side.get("ssl_context") is not None)


def test_the_password_is_read_from_its_file_without_the_newline(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    settings = Settings(
        kafka_bootstrap=KAFKA,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="crm",
        kafka_sasl_password_file=secret,
    )
    assert client_options(settings.kafka)["sasl_plain_password"] == "from-a-file"


def test_an_unreadable_password_file_names_the_setting(tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap=KAFKA,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="crm",
        kafka_sasl_password_file=tmp_path / "absent",
    )
    with pytest.raises(InfrastructureError, match="CRM_KAFKA_SASL_PASSWORD_FILE"):
        _ = settings.kafka


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u", "kafka_sasl_password": "p"}, "MECHANISM"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_password": "p"},
            "USERNAME",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u"},
            "PASSWORD",
        ),
        ({"kafka_sasl_username": "u"}, "CRM_KAFKA_SASL_USERNAME is set"),
        ({"kafka_ssl_ca_file": "/ca.pem"}, "CRM_KAFKA_SSL_CA_FILE is set"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_key_file": "/k.pem"}, "needs CRM_KAFKA_SSL_CERT_FILE"),
    ],
)
def test_incomplete_or_contradictory_security_settings_are_refused_naming_the_variable(
    given: dict[str, str], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        Settings(kafka_bootstrap=KAFKA, **given)  # type: ignore[arg-type]


def test_the_password_never_shows_in_the_settings_or_a_service_view() -> None:
    settings = Settings(
        kafka_bootstrap=KAFKA,
        database_url=DATABASE,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="crm",
        kafka_sasl_password="hunter2-secret",  # type: ignore[arg-type]
    )
    views = [view.of(settings, "x") for view in (GatewaySettings, QuerySettings, ProjectorSettings, AlertsSettings)]
    for shown in (settings, settings.kafka, *views):
        assert "hunter2-secret" not in repr(shown) and "hunter2-secret" not in str(shown)
    assert all(view.kafka is not None and view.kafka.security.sasl_username == "crm" for view in views)
