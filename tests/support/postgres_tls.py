"""TLS for the session's embedded PostgreSQL: certificates made at test time (`cryptography`), and
`ssl = on` switched on with them for as long as a test needs it (ALTER SYSTEM, reloaded)."""

import asyncio
import datetime
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.isolation import plain_dsn


@dataclass(frozen=True)
class Certificates:
    root: Path
    """The CA that signed the server's and the client's certificates."""
    other_root: Path
    """A CA that signed neither."""
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    hosts: tuple[str, ...] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        key_path = path.with_suffix(".key")
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)


def make_certificates(directory: Path, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Certificates:
    """A root CA, a server certificate for `hosts` and a client one (CN crm_app) it signed, and an
    unrelated root: PEM files in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    root_key, other_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    _write(directory / "root.crt", _certificate("crm test root", root_key, None))
    _write(directory / "other-root.crt", _certificate("another root", other_key, None))
    _write(
        directory / "server.crt",
        _certificate("crm test server", server_key, ("crm test root", root_key), hosts=hosts),
        server_key,
    )
    _write(directory / "client.crt", _certificate("crm_app", client_key, ("crm test root", root_key)), client_key)
    return Certificates(
        directory / "root.crt",
        directory / "other-root.crt",
        directory / "server.crt",
        directory / "server.key",
        directory / "client.crt",
        directory / "client.key",
    )


_SETTINGS = ("ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file")


async def _configure(admin_url: str, values: dict[str, str] | None) -> None:
    """ALTER SYSTEM the TLS settings (None: reset them), reload, and wait until a new connection
    has them (the postmaster takes SIGHUP asynchronously)."""
    connection = await asyncpg.connect(plain_dsn(admin_url), ssl=False)
    try:
        for name in _SETTINGS:
            if values is None:
                await connection.execute(f"ALTER SYSTEM RESET {name}")
            else:
                await connection.execute(f"ALTER SYSTEM SET {name} = '{values[name]}'")
        await connection.execute("SELECT pg_reload_conf()")
    finally:
        await connection.close()
    wanted = "off" if values is None else "on"
    for _ in range(200):
        probe = await asyncpg.connect(plain_dsn(admin_url), ssl=False)
        try:
            if await probe.fetchval("SHOW ssl") == wanted:
                return
        finally:
            await probe.close()
        await asyncio.sleep(0.05)
    raise AssertionError(f"PostgreSQL did not turn ssl {wanted}; see its log")


async def _data_directory(admin_url: str) -> Path:
    connection = await asyncpg.connect(plain_dsn(admin_url), ssl=False)
    try:
        return Path(await connection.fetchval("SHOW data_directory"))
    finally:
        await connection.close()


@contextmanager
def server_files(data_dir: Path, certificates: Certificates) -> Iterator[dict[str, str]]:
    """The server's certificate, key and CA copied into its data directory, owned by its user
    (PostgreSQL reads a key only its owner may read); the settings that name them."""
    owner = data_dir.stat()
    copies = {
        "ssl_cert_file": (certificates.server_cert, data_dir / "crm-test-server.crt"),
        "ssl_key_file": (certificates.server_key, data_dir / "crm-test-server.key"),
        "ssl_ca_file": (certificates.root, data_dir / "crm-test-root.crt"),
    }
    for source, target in copies.values():
        target.write_bytes(source.read_bytes())
        target.chmod(0o600)
        os.chown(target, owner.st_uid, owner.st_gid)
    try:
        yield {"ssl": "on", **{name: str(target) for name, (_, target) in copies.items()}}
    finally:
        for _, target in copies.values():
            target.unlink(missing_ok=True)


@contextmanager
def tls_switched_on(admin_url: str, certificates: Certificates) -> Iterator[None]:
    """`ssl = on` on the server of `admin_url` (a superuser) while the block runs; then off again."""
    data_dir = asyncio.run(_data_directory(admin_url))
    with server_files(data_dir, certificates) as values:
        asyncio.run(_configure(admin_url, values))
        try:
            yield
        finally:
            asyncio.run(_configure(admin_url, None))
