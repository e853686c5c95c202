"""The consortium certificate authority and the certificates it issues.

One ECDSA P-256 CA per consortium signs, with SHA-256, two kinds of
leaf certificate, each valid for at most ``CERT_LIFETIME`` (30 days; no
leaf is ever issued for longer, nor past the CA's own end):

* a lab certificate, for TLS client authentication only. Its common name
  is the lab's name, and its subject alternative name holds exactly two
  URIs::

      urn:labmatch:lab:NAME
      urn:labmatch:signing-key:ed25519:HEX

  The first is how the coordinator learns who is calling. The second
  binds the lab's long-term Ed25519 signing key to the certificate: HEX is
  the 32-byte public key as 64 lowercase hex digits, exactly as pinned in
  ``consortium.toml``. A reader must accept a certificate only if it
  carries exactly one URI with each prefix. ``signing_key_from_cert``
  reads the second.

  In production the lab makes its own P-256 key and a certificate signing
  request (``make_lab_csr``) whose subject and SAN are exactly those of
  the certificate it asks for; ``read_lab_csr`` checks one and
  ``CA.certify_lab`` signs it. ``CA.issue_lab`` makes the key itself, for
  tests and tooling only.
* the coordinator's certificate, for TLS server authentication only, with
  the common name ``labmatch coordinator`` (a space, so it can never be
  mistaken for a lab name) and a SAN for each address it answers on.

Private keys are PKCS#8 PEM without a passphrase: the files that hold them
are mode 0600 inside 0700 directories. The CA key belongs offline.
"""
from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
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
    "LabCSR",
    "SIGNING_KEY_URI_PREFIX",
    "check_ca_cert",
    "check_issued",
    "check_key_pair",
    "check_lifetime",
    "lab_name_from_cert",
    "load_ca",
    "make_ca",
    "make_key",
    "make_lab_csr",
    "not_after",
    "read_lab_csr",
    "signing_key_from_cert",
]

CERT_LIFETIME = datetime.timedelta(days=30)
CA_LIFETIME = datetime.timedelta(days=365)
CA_CN = "labmatch development CA"
COORDINATOR_CN = "labmatch coordinator"
LAB_URI_PREFIX = "urn:labmatch:lab:"
SIGNING_KEY_URI_PREFIX = "urn:labmatch:signing-key:ed25519:"
SIGNING_KEY_HEX = re.compile(r"[0-9a-f]{64}")
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
    uris = _uris(cert)
    if uris is None:
        raise ConsortiumError("certificate has no subject alternative "
                              "name")
    names = [u[len(LAB_URI_PREFIX):] for u in uris
             if u.startswith(LAB_URI_PREFIX)]
    if len(names) != 1:
        raise ConsortiumError(f"certificate must carry exactly one "
                              f"{LAB_URI_PREFIX}NAME URI, not {len(names)}")

    return validate_lab_name(names[0])


def signing_key_from_cert(cert_pem: bytes) -> bytes | None:
    """The Ed25519 public key (32 bytes) bound to a lab certificate by its
    ``urn:labmatch:signing-key:ed25519:HEX`` URI SAN, or None when the
    certificate carries no such URI.

    Raises ConsortiumError when it carries more than one, or HEX is not
    64 lowercase hex digits.
    """
    cert = _load_cert(cert_pem, "certificate")
    keys = [u[len(SIGNING_KEY_URI_PREFIX):] for u in _uris(cert) or []
            if u.startswith(SIGNING_KEY_URI_PREFIX)]
    if not keys:
        return None
    if len(keys) > 1:
        raise ConsortiumError(f"certificate carries {len(keys)} "
                              f"{SIGNING_KEY_URI_PREFIX} URIs, not one")
    if not SIGNING_KEY_HEX.fullmatch(keys[0]):
        raise ConsortiumError(f"certificate's {SIGNING_KEY_URI_PREFIX} URI "
                              "is not 64 lowercase hex digits")

    return bytes.fromhex(keys[0])


def not_after(cert_pem: bytes) -> datetime.datetime:
    """The last instant (UTC) at which the certificate is valid."""
    return _load_cert(cert_pem, "certificate").not_valid_after_utc


def check_lifetime(cert_pem: bytes) -> None:
    """Raise ConsortiumError if the certificate is valid for longer than
    ``CERT_LIFETIME``."""
    cert = _load_cert(cert_pem, "certificate")
    if cert.not_valid_after_utc - cert.not_valid_before_utc > CERT_LIFETIME:
        raise ConsortiumError(f"the certificate is valid for longer than "
                              f"{CERT_LIFETIME.days} days")


def check_ca_cert(ca_pem: bytes) -> None:
    """Raise ConsortiumError unless ``ca_pem`` is a self-signed CA
    certificate."""
    if not _is_ca(_load_cert(ca_pem, "CA certificate")):
        raise ConsortiumError("the CA certificate is not a self-signed CA "
                              "certificate")


def make_key() -> bytes:
    """A new ECDSA P-256 private key, as unencrypted PKCS#8 PEM."""
    return _key_pem(ec.generate_private_key(ec.SECP256R1()))


def make_lab_csr(key_pem: bytes, name: str, signing_key: bytes) -> bytes:
    """A certificate signing request (PEM), signed with ``key_pem``, for
    lab ``name`` whose Ed25519 public key is ``signing_key``."""
    key = _load_key(key_pem, "TLS key")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            validate_lab_name(name))])
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(_lab_sans(name, signing_key), critical=False)
        .sign(key, hashes.SHA256())
    )

    return csr.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, repr=False, eq=False)
class LabCSR:
    """A checked lab certificate signing request."""

    name: str
    signing_key: bytes
    public_key: ec.EllipticCurvePublicKey
    der: bytes

    def __repr__(self) -> str:
        return f"<LabCSR {self.name}>"


def read_lab_csr(csr_pem: bytes) -> LabCSR:
    """The lab request in ``csr_pem``, checked: its self-signature (with
    SHA-256) verifies, its key is P-256, its subject is exactly
    ``CN=NAME`` for a valid lab name, and its SAN holds exactly the two
    URIs of a lab certificate for that name. ConsortiumError otherwise.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
        key = csr.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion):
        raise ConsortiumError("the CSR is not a PEM certificate signing "
                              "request with a supported key") from None
    if not (isinstance(key, ec.EllipticCurvePublicKey)
            and isinstance(key.curve, ec.SECP256R1)):
        raise ConsortiumError("the CSR's key is not an ECDSA P-256 key")
    try:
        valid = (isinstance(csr.signature_hash_algorithm, hashes.SHA256)
                 and csr.is_signature_valid)
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise ConsortiumError("the CSR's signature does not verify")

    name = _only_common_name(csr.subject)
    try:
        san = csr.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ConsortiumError("the CSR has no subject alternative "
                              "name") from None
    except ValueError:
        raise ConsortiumError("the CSR's extensions are malformed") from None
    keys = [u[len(SIGNING_KEY_URI_PREFIX):]
            for u in san.get_values_for_type(x509.UniformResourceIdentifier)
            if u.startswith(SIGNING_KEY_URI_PREFIX)]
    if len(keys) != 1 or not SIGNING_KEY_HEX.fullmatch(keys[0]):
        raise ConsortiumError(f"the CSR must carry exactly one "
                              f"{SIGNING_KEY_URI_PREFIX}HEX URI")
    signing_key = bytes.fromhex(keys[0])
    if list(san) != list(_lab_sans(name, signing_key)):
        raise ConsortiumError(f"the CSR's subject alternative names must be "
                              f"exactly {LAB_URI_PREFIX}{name} and one "
                              f"{SIGNING_KEY_URI_PREFIX}HEX URI")

    return LabCSR(name, signing_key, key,
                  csr.public_bytes(serialization.Encoding.DER))


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

    def issue_lab(self, name: str, now: datetime.datetime | None = None,
                  *, signing_key: bytes | None = None
                  ) -> tuple[bytes, bytes]:
        """A new key and a client certificate for lab ``name``: (key PEM,
        cert PEM). The certificate binds ``signing_key`` when given;
        without it, it binds no signing key (and ``load_lab`` refuses it).

        For tests and tooling: production labs make their own key and
        ``certify_lab`` signs their request.
        """
        validate_lab_name(name)
        key = ec.generate_private_key(ec.SECP256R1())
        if signing_key is None:
            sans = x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(LAB_URI_PREFIX + name)])
        else:
            sans = _lab_sans(name, signing_key)
        cert = self._issue(name, key.public_key(), list(sans),
                           ExtendedKeyUsageOID.CLIENT_AUTH, now)

        return _key_pem(key), cert

    def certify_lab(self, csr: LabCSR,
                    now: datetime.datetime | None = None) -> bytes:
        """A client certificate (PEM) for the key, lab name and signing
        key of a request checked by ``read_lab_csr``."""
        sans = _lab_sans(csr.name, csr.signing_key)

        return self._issue(csr.name, csr.public_key, list(sans),
                           ExtendedKeyUsageOID.CLIENT_AUTH, now)

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
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue(COORDINATOR_CN, key.public_key(), sans,
                           ExtendedKeyUsageOID.SERVER_AUTH, now)

        return _key_pem(key), cert

    def _issue(self, common_name: str,
               public_key: ec.EllipticCurvePublicKey,
               sans: list[x509.GeneralName],
               purpose: x509.ObjectIdentifier,
               now: datetime.datetime | None) -> bytes:
        start = _now(now)
        end = min(start + CERT_LIFETIME, self.cert.not_valid_after_utc)
        if end <= start:
            raise ConsortiumError("the CA certificate has expired")
        if end - start > CERT_LIFETIME:  # never, whatever changes above
            raise ConsortiumError("a leaf certificate may not outlive "
                                  f"{CERT_LIFETIME.days} days")
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            self._key.public_key())

        cert = (
            _builder(subject, self.cert.subject, public_key, start, end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(_ski(public_key), critical=False)
            .add_extension(aki, critical=False)
            .sign(self._key, hashes.SHA256())
        )

        return cert.public_bytes(serialization.Encoding.PEM)


def _lab_sans(name: str, signing_key: bytes) -> x509.SubjectAlternativeName:
    if not isinstance(signing_key, bytes) or len(signing_key) != 32:
        raise ConsortiumError("a signing key is 32 bytes")

    return x509.SubjectAlternativeName([
        x509.UniformResourceIdentifier(LAB_URI_PREFIX
                                       + validate_lab_name(name)),
        x509.UniformResourceIdentifier(SIGNING_KEY_URI_PREFIX
                                       + signing_key.hex()),
    ])


def _uris(cert: x509.Certificate) -> list[str] | None:
    """The certificate's URI SANs; None when it has no SAN extension."""
    try:
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        raise ConsortiumError("the certificate's extensions are "
                              "malformed") from None

    return san.get_values_for_type(x509.UniformResourceIdentifier)


def _only_common_name(subject: x509.Name) -> str:
    attrs = list(subject)
    if len(attrs) != 1 or attrs[0].oid != NameOID.COMMON_NAME:
        raise ConsortiumError("the CSR's subject must be exactly CN=NAME")
    value = attrs[0].value
    if not isinstance(value, str):
        raise ConsortiumError("the CSR's common name is not text")
    try:
        return validate_lab_name(value)
    except ConsortiumError:
        raise ConsortiumError("the CSR's common name is not a valid lab "
                              "name") from None


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
    except (ValueError, x509.InvalidVersion):
        raise ConsortiumError(f"the {what} is not a PEM "
                              "certificate") from None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(
            x509.BasicConstraints).value
    except (x509.ExtensionNotFound, ValueError):
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
