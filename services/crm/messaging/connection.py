"""How every Kafka client of the project connects: the brokers, TLS and SASL.

`client_options(kafka)` is the one place that turns the settings into aiokafka's keyword
arguments; every `AIOKafkaProducer`, `AIOKafkaConsumer` and `AIOKafkaAdminClient` is built with
`**client_options(kafka)` (tests/unit/test_kafka_clients.py reads the source to hold us to it), and
the alerts service's Faust app gets the same through `broker_credentials` (crm/alerts/app.py).
"""

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr

from crm.errors import InfrastructureError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """TLS and SASL of the Kafka clients (`CRM_KAFKA_SECURITY_PROTOCOL` and its companions).

    Secrets are `SecretStr`: they print as stars in logs and reprs.
    """

    protocol: SecurityProtocol = "PLAINTEXT"
    ca_file: Path | None = None  # None: the system's trusted CAs
    cert_file: Path | None = None  # a client certificate, for brokers that ask for one
    key_file: Path | None = None
    key_password: SecretStr | None = None
    check_hostname: bool = True
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting `ca_file` (else the system's CAs), with the client certificate if any."""
        try:
            context: ssl.SSLContext = create_ssl_context(
                cafile=self.ca_file,
                certfile=self.cert_file,
                keyfile=self.key_file,
                password=None if self.key_password is None else self.key_password.get_secret_value(),
            )
        except (OSError, ssl.SSLError) as error:
            raise InfrastructureError(
                f"Kafka's TLS files cannot be used ({error}): check CRM_KAFKA_SSL_CA_FILE, CRM_KAFKA_SSL_CERT_FILE "
                "and CRM_KAFKA_SSL_KEY_FILE."
            ) from error
        context.check_hostname = self.check_hostname
        return context


PLAINTEXT = KafkaSecurity()


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Where the brokers are (`host:port[,host:port...]`) and how to reach them."""

    bootstrap: str
    security: KafkaSecurity = field(default=PLAINTEXT)


def client_options(kafka: KafkaConnection) -> dict[str, Any]:
    """aiokafka's connection keyword arguments: `bootstrap_servers`, `security_protocol`, and the
    `ssl_context` and `sasl_*` arguments the protocol needs."""
    security = kafka.security
    options: dict[str, Any] = {"bootstrap_servers": kafka.bootstrap, "security_protocol": security.protocol}
    if security.uses_tls:
        options["ssl_context"] = security.ssl_context()
    if security.uses_sasl:
        assert security.sasl_mechanism and security.sasl_username and security.sasl_password  # checked by Settings
        options["sasl_mechanism"] = security.sasl_mechanism
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = security.sasl_password.get_secret_value()
    return options
