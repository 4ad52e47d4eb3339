"""libpq's TLS arguments in CRM_DATABASE_URL become asyncpg's `ssl` (crm/db/engine.py)."""

import ssl

import pytest

from crm.db.engine import asyncpg_connect_args, tls_of
from crm.errors import InfrastructureError

URL = "postgresql+asyncpg://crm:secret@db.example:5432/crm"


def test_a_url_without_tls_arguments_is_left_as_it_is() -> None:
    url, connect_args = asyncpg_connect_args(URL + "?prepared_statement_cache_size=0")

    assert connect_args == {}
    assert dict(url.query) == {"prepared_statement_cache_size": "0"}


def test_the_tls_arguments_leave_the_url_for_the_ssl_argument() -> None:
    url, connect_args = asyncpg_connect_args(URL + "?sslmode=verify-full&application_name=crm")

    assert dict(url.query) == {"application_name": "crm"}
    context = connect_args["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_verify_ca_checks_the_chain_but_not_the_host_name() -> None:
    context = tls_of({"sslmode": "verify-ca"})

    assert isinstance(context, ssl.SSLContext)
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_require_encrypts_without_verifying_unless_given_a_root() -> None:
    context = tls_of({"sslmode": "require"})

    assert isinstance(context, ssl.SSLContext)
    assert not context.check_hostname and context.verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
def test_the_modes_that_do_not_verify_go_to_asyncpg_as_they_are(mode: str) -> None:
    assert tls_of({"sslmode": mode}) == mode


def test_a_root_certificate_with_a_mode_that_does_not_verify_is_refused() -> None:
    with pytest.raises(InfrastructureError, match="sslmode=prefer does not verify"):
        tls_of({"sslmode": "prefer", "sslrootcert": "/etc/ssl/root.crt"})


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(InfrastructureError, match="sslmode=verify-everything is not one of"):
        tls_of({"sslmode": "verify-everything"})
