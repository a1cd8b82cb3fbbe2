"""Throwaway TLS and node-authentication material for a local Flower federation, and checks
that turn a bad certificate into a clear error before any process starts.

Everything here is for running on one machine (``127.0.0.1``): a private certificate
authority, a SuperLink server certificate signed by it, and one P-384 key pair per SuperNode
in the OpenSSH formats Flower reads (``flower-supernode --auth-supernode-private-key``,
``flwr supernode register``). A real deployment gets its certificates from the
organisations' own PKI; nothing generated here should be committed or reused.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fedcrm._files import write_atomically
from fedcrm.errors import ConfigError

__all__ = [
    "CertificateFiles",
    "NodeKeyFiles",
    "check_certificate",
    "check_superlink",
    "make_certificates",
    "make_node_keys",
]


@dataclass(frozen=True)
class CertificateFiles:
    """Paths of a local CA and of the SuperLink's certificate and key (PEM)."""

    ca_certificate: Path
    server_certificate: Path
    server_key: Path


@dataclass(frozen=True)
class NodeKeyFiles:
    """One SuperNode's authentication key pair (OpenSSH private / public format)."""

    private_key: Path
    public_key: Path


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only, from the first byte on."""
    write_atomically(path, data, private=True)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fedcrm local federation"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(
    directory: str | Path,
    *,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
    valid_days: int = 2,
    expired: bool = False,
) -> CertificateFiles:
    """Create a private CA and a SuperLink certificate for ``hosts`` in ``directory``.

    ``valid_days`` keeps throwaway material short-lived. ``expired=True`` dates the server
    certificate in the past (for testing the error a node sees).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = _name("fedcrm local CA")
    ca_certificate = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA384())
    )
    server_key = ec.generate_private_key(ec.SECP384R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    start, end = ((now - dt.timedelta(days=20), now - dt.timedelta(days=10)) if expired
                  else (now - dt.timedelta(minutes=5), now + dt.timedelta(days=valid_days)))
    server_certificate = (
        x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca_name)
        .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA384())
    )
    files = CertificateFiles(folder / "ca.crt", folder / "server.crt", folder / "server.key")
    files.ca_certificate.write_bytes(ca_certificate.public_bytes(serialization.Encoding.PEM))
    files.server_certificate.write_bytes(
        server_certificate.public_bytes(serialization.Encoding.PEM))
    _write_private(files.server_key, server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return files


def make_node_keys(directory: str | Path, names: list[str] | tuple[str, ...]
                   ) -> dict[str, NodeKeyFiles]:
    """One P-384 authentication key pair per SuperNode name, in OpenSSH format (what
    ``flower-supernode --auth-supernode-private-key`` and ``flwr supernode register`` read)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    keys: dict[str, NodeKeyFiles] = {}
    for name in names:
        private = ec.generate_private_key(ec.SECP384R1())
        files = NodeKeyFiles(folder / f"{name}.key", folder / f"{name}.key.pub")
        _write_private(files.private_key, private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption()))
        files.public_key.write_bytes(private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH))
        keys[name] = files
    return keys


def check_certificate(path: str | Path, *, role: str = "certificate") -> x509.Certificate:
    """Load a PEM certificate and raise :class:`ConfigError` unless it is valid now.

    The message names the file, the validity window and the fix, so an expired or
    not-yet-valid certificate is caught before a process is started with it.
    """
    file = Path(path)
    try:
        certificate = x509.load_pem_x509_certificate(file.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{role} {file} does not exist; check the path passed for it "
                          "(a launcher's certificate folder, a SuperNode's "
                          "--root-certificates)") from None
    except OSError as exc:
        raise ConfigError(f"{role} {file} cannot be read ({exc.strerror or exc}); pass the "
                          "path of a PEM certificate file") from None
    except ValueError as exc:
        raise ConfigError(f"{role} {file} is not a PEM certificate ({exc})") from None
    now = dt.datetime.now(dt.UTC)
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now > end:
        raise ConfigError(
            f"{role} {file} expired on {end:%Y-%m-%d %H:%M} UTC; issue a new one (for the "
            "local example, run examples/flower/run_local.sh again: it makes fresh ones)")
    if now < start:
        raise ConfigError(f"{role} {file} is not valid before {start:%Y-%m-%d %H:%M} UTC; "
                          "check the clock of this machine or re-issue the certificate")
    return certificate


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"SuperLink address {address!r} is not host:port "
                          "(e.g. 127.0.0.1:9093)")
    return host.strip("[]"), int(port)


def _client_context(ca_file: Path) -> ssl.SSLContext:
    """A TLS client context trusting ``ca_file`` (ConfigError naming the file if it cannot
    serve as one)."""
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except FileNotFoundError:
        raise ConfigError(f"CA certificate {ca_file} does not exist; pass the CA certificate "
                          "that issued the SuperLink's certificate as root "
                          "certificates") from None
    except ssl.SSLError as exc:
        raise ConfigError(f"CA certificate {ca_file} is not a PEM certificate "
                          f"({exc.reason or exc}); pass the PEM file of the CA that issued "
                          "the SuperLink's certificate") from None
    except OSError as exc:
        raise ConfigError(f"CA certificate {ca_file} cannot be read ({exc.strerror or exc}); "
                          "pass the path of a PEM file") from None


def check_superlink(address: str, *, root_certificates: str | Path | None = None,
                    timeout: float = 5.0) -> None:
    """Fail fast, with a clear :class:`ConfigError`, when a SuperNode could not talk to the
    SuperLink at ``address``: nothing listens there, or (with ``root_certificates``) its TLS
    certificate does not verify against that CA (expired, wrong host, other CA)."""
    host, port = _split_address(address)
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot reach the SuperLink at {address} ({reason}, after at most {timeout:g} s); "
            "is flower-superlink running there, and is this address (the SuperNode's "
            "--superlink) right?"
        ) from None
    with connection:
        if root_certificates is None:
            return
        context = _client_context(Path(root_certificates))
        try:
            with context.wrap_socket(connection, server_hostname=host):
                return
        except ssl.SSLCertVerificationError as exc:
            raise ConfigError(
                f"the SuperLink at {address} presented a certificate that does not verify "
                f"against {root_certificates}: {exc.verify_message}; renew the SuperLink's "
                "certificate or point root_certificates at the CA that issued it") from None
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"TLS handshake with the SuperLink at {address} failed ({exc}); "
                              "is it started with --ssl-certfile/--ssl-keyfile?") from None
