"""The development certificate authority and the certificates it issues.

One ECDSA P-256 CA per consortium signs, with SHA-256, two kinds of
short-lived leaf certificate:

* a lab certificate, for TLS client authentication only: common name and
  URI SAN ``urn:labmatch:lab:<name>`` carry the lab's name, which is how
  the coordinator learns who is calling;
* the coordinator's certificate, for TLS server authentication only, with
  the common name ``labmatch coordinator`` (a space, so it can never be
  mistaken for a lab name) and a SAN for each address it answers on.

Private keys are PKCS#8 PEM without a passphrase: the files that hold them
are mode 0600 inside 0700 directories. The CA key belongs offline.
"""
from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labmatch.psi.consortium import validate_lab_name
from labmatch.psi.errors import ConsortiumError

__all__ = [
    "CA",
    "CA_LIFETIME",
    "CERT_LIFETIME",
    "COORDINATOR_CN",
    "LAB_URI_PREFIX",
    "check_issued",
    "check_key_pair",
    "lab_name_from_cert",
    "load_ca",
    "make_ca",
]

CERT_LIFETIME = datetime.timedelta(days=30)
CA_LIFETIME = datetime.timedelta(days=365)
CA_CN = "labmatch development CA"
COORDINATOR_CN = "labmatch coordinator"
LAB_URI_PREFIX = "urn:labmatch:lab:"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def make_ca(now: datetime.datetime | None = None) -> tuple[bytes, bytes]:
    """A new self-signed CA, as (key PEM, certificate PEM)."""
    start = _now(now)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_CN)])
    usage = _key_usage(cert_sign=True)

    cert = (
        _builder(name, name, key.public_key(), start, start + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .add_extension(usage, critical=True)
        .add_extension(_ski(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )

    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def load_ca(key_pem: bytes, cert_pem: bytes) -> CA:
    """The CA held in ``key_pem`` and ``cert_pem``, checked to belong
    together (ConsortiumError otherwise)."""
    key = _load_key(key_pem, "CA key")
    cert = _load_cert(cert_pem, "CA certificate")
    if not _is_ca(cert):
        raise ConsortiumError("the CA certificate is not a CA certificate")
    if not _same_key(key.public_key(), cert.public_key()):
        raise ConsortiumError("the CA key does not match the CA certificate")

    return CA(key, cert)


def lab_name_from_cert(cert_pem: bytes) -> str:
    """The lab name in the certificate's ``urn:labmatch:lab:`` URI SAN.

    Raises ValueError (ConsortiumError) when there is none, more than one,
    or the name is not a valid lab name.
    """
    cert = _load_cert(cert_pem, "certificate")
    try:
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ConsortiumError("certificate has no subject alternative "
                              "name") from None

    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    names = [u[len(LAB_URI_PREFIX):] for u in uris
             if u.startswith(LAB_URI_PREFIX)]
    if len(names) != 1:
        raise ConsortiumError(f"certificate must carry exactly one "
                              f"{LAB_URI_PREFIX}NAME URI, not {len(names)}")

    return validate_lab_name(names[0])


def check_key_pair(key_pem: bytes, cert_pem: bytes) -> None:
    """Raise ConsortiumError unless ``key_pem`` is the certificate's key."""
    key = _load_key(key_pem, "key")
    cert = _load_cert(cert_pem, "certificate")
    if not _same_key(key.public_key(), cert.public_key()):
        raise ConsortiumError("the key does not match the certificate")


def check_issued(cert_pem: bytes, ca_pem: bytes) -> None:
    """Raise ConsortiumError unless the CA in ``ca_pem`` signed
    ``cert_pem``. Validity dates are not checked."""
    cert = _load_cert(cert_pem, "certificate")
    ca = _load_cert(ca_pem, "CA certificate")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise ConsortiumError("the certificate was not issued by the CA "
                              "in ca.crt") from None


class CA:
    """A loaded certificate authority that issues leaf certificates."""

    def __init__(self, key: ec.EllipticCurvePrivateKey,
                 cert: x509.Certificate) -> None:
        self._key = key
        self.cert = cert

    def __repr__(self) -> str:
        return f"<CA {self.cert.subject.rfc4514_string()}>"

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue_lab(self, name: str, now: datetime.datetime | None = None
                  ) -> tuple[bytes, bytes]:
        """A client certificate for lab ``name``: (key PEM, cert PEM)."""
        validate_lab_name(name)
        uri = x509.UniformResourceIdentifier(LAB_URI_PREFIX + name)

        return self._issue(name, [uri], ExtendedKeyUsageOID.CLIENT_AUTH, now)

    def issue_coordinator(self, hosts: Iterable[str],
                          now: datetime.datetime | None = None
                          ) -> tuple[bytes, bytes]:
        """A server certificate for the coordinator, valid for the local
        addresses and each of ``hosts``: (key PEM, cert PEM)."""
        sans: list[x509.GeneralName] = []
        for host in (*LOCAL_HOSTS, *hosts):
            san = _host_san(host)
            if san not in sans:
                sans.append(san)

        return self._issue(COORDINATOR_CN, sans,
                           ExtendedKeyUsageOID.SERVER_AUTH, now)

    def _issue(self, common_name: str, sans: list[x509.GeneralName],
               purpose: x509.ObjectIdentifier,
               now: datetime.datetime | None) -> tuple[bytes, bytes]:
        start = _now(now)
        end = min(start + CERT_LIFETIME, self.cert.not_valid_after_utc)
        if end <= start:
            raise ConsortiumError("the CA certificate has expired")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            self._key.public_key())

        cert = (
            _builder(subject, self.cert.subject, key.public_key(), start, end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(_ski(key.public_key()), critical=False)
            .add_extension(aki, critical=False)
            .sign(self._key, hashes.SHA256())
        )

        return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def _now(now: datetime.datetime | None) -> datetime.datetime:
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    return now.astimezone(datetime.timezone.utc).replace(microsecond=0)


def _builder(subject: x509.Name, issuer: x509.Name,
             public_key: ec.EllipticCurvePublicKey,
             start: datetime.datetime,
             end: datetime.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    # A CA signs certificates; a TLS 1.3 leaf with an ECDSA key signs the
    # handshake. Neither does anything else.
    return x509.KeyUsage(
        digital_signature=not cert_sign, content_commitment=False,
        key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=cert_sign, crl_sign=False,
        encipher_only=False, decipher_only=False)


def _ski(public_key: ec.EllipticCurvePublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def _host_san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host.lower())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(pem: bytes, what: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConsortiumError(f"the {what} is not an unencrypted PEM "
                              "private key") from None
    if not (isinstance(key, ec.EllipticCurvePrivateKey)
            and isinstance(key.curve, ec.SECP256R1)):
        raise ConsortiumError(f"the {what} is not an ECDSA P-256 key")

    return key


def _load_cert(pem: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ConsortiumError(f"the {what} is not a PEM "
                              "certificate") from None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(
            x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not constraints.ca:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False

    return True


def _same_key(a: ec.EllipticCurvePublicKey,
              b: object) -> bool:
    return isinstance(b, ec.EllipticCurvePublicKey) and a == b
