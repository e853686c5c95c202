"""Production enrolment: a lab makes its own keys; the operator certifies.

The steps, each on its own machine::

    lab       lab_keygen(LABDIR, NAME)     -> LABDIR/enrolment-request.json
    operator  enrol(DIR, REQUEST)          -> DIR/issued/NAME/ (offline, CA)
    lab       install_response(LABDIR, DIR/issued/NAME)

``lab_keygen`` writes the lab's three private keys, in the formats
``load_lab`` reads (``tls.key`` ECDSA P-256 PKCS#8 PEM; ``signing.key``
the Ed25519 seed and ``sealing.key`` the X25519 private key, each as 64
lowercase hex digits and a newline), and an enrolment request. The request
holds nothing secret. It is a JSON object::

    {"format": "labmatch-enrolment-request", "version": 1,
     "name": NAME, "csr": PEM, "signing_key": HEX, "sealing_key": HEX,
     "proof": HEX}

``csr`` is a PKCS#10 request signed with the TLS key, for ``CN=NAME`` and
exactly the two URI SANs of a lab certificate (see ``pki``), the second of
which names the Ed25519 public key ``signing_key``. ``proof`` is an
Ed25519 signature by the signing key over::

    b"LABMATCH-V1-SIG/enrolment-request" || lp(NAME) || lp(CSR DER)
        || sealing public key (32 bytes)

where ``lp`` prefixes a field with its 2-byte big-endian length. So the
request proves possession of the TLS key (the CSR's self-signature) and of
the signing key (the proof), and the signing key vouches for the name, the
TLS key and the sealing key together. (An X25519 key cannot sign; its
possession is not proven, only vouched for.)

``enrol`` checks a request, issues a 30-day certificate binding the lab's
name, TLS key and signing key, pins the lab's public keys in
``DIR/consortium.toml`` (a new lab is added; the same keys again, as in a
renewal, leave the pins unchanged; other keys for a pinned lab are refused
unless ``replace_keys``), and writes the response: ``tls.crt``, ``ca.crt``
and ``consortium.toml``. ``install_response`` checks that response against
the lab's own keys before copying it in. ``renewal_request`` makes a new
request with the same keys. Certificates last at most 30 days;
``expiry_warning`` says so a week ahead.
"""
from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.signing
from cryptography import x509

from labmatch.psi.consortium import Consortium, LabKeys, validate_lab_name
from labmatch.psi.encoding import lp
from labmatch.psi.errors import ConsortiumError

from . import pki
from .files import (
    key_hex,
    make_private_dir,
    read_file,
    read_key_hex,
    write_private,
    write_public,
)

__all__ = [
    "CONSORTIUM_FILE",
    "EXPIRY_WARNING",
    "EnrolmentRequest",
    "PROOF_LABEL",
    "REQUEST_FILE",
    "RESPONSE_FILES",
    "certificate_expiry",
    "enrol",
    "expiry_warning",
    "install_response",
    "lab_keygen",
    "load_ca_dir",
    "load_consortium_file",
    "proof_message",
    "read_request",
    "renewal_request",
]

REQUEST_FILE = "enrolment-request.json"
REQUEST_FORMAT = "labmatch-enrolment-request"
REQUEST_VERSION = 1
REQUEST_FIELDS = frozenset({"format", "version", "name", "csr",
                            "signing_key", "sealing_key", "proof"})
MAX_REQUEST_BYTES = 64 * 1024
PROOF_LABEL = b"LABMATCH-V1-SIG/enrolment-request"
CONSORTIUM_FILE = "consortium.toml"
KEY_FILES = ("tls.key", "signing.key", "sealing.key")
RESPONSE_FILES = ("tls.crt", "ca.crt", CONSORTIUM_FILE)
EXPIRY_WARNING = datetime.timedelta(days=7)
HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True, repr=False, eq=False)
class EnrolmentRequest:
    """A checked enrolment request. Holds public material only."""

    name: str
    csr: pki.LabCSR
    signing_key: bytes
    sealing_key: bytes

    @property
    def keys(self) -> LabKeys:
        return LabKeys(self.signing_key, self.sealing_key)

    def __repr__(self) -> str:
        return f"EnrolmentRequest(name={self.name!r})"


# ---------------------------------------------------------------- lab side


def lab_keygen(directory: Path, name: str, *, force: bool = False) -> Path:
    """Make lab ``name``'s keys in ``directory`` and its enrolment request.

    Creates ``directory`` (and missing parents) with mode 0700; writes
    ``tls.key``, ``signing.key`` and ``sealing.key`` with mode 0600 and
    the request (``REQUEST_FILE``, public) beside them. Returns the
    request's path.

    Refuses a directory that already holds any of the keys unless
    ``force``, which makes every key anew (the lab must then be enrolled
    again; a certificate already in the directory no longer matches).
    To renew a certificate, use ``renewal_request`` instead.
    """
    directory = Path(directory)
    try:
        validate_lab_name(name)
    except ConsortiumError as exc:
        raise ConsortiumError(f"{directory}: {exc}") from None
    if os.path.lexists(directory) and not directory.is_dir():
        raise ConsortiumError(f"{directory} exists and is not a directory")
    present = [f for f in KEY_FILES if os.path.lexists(directory / f)]
    if present and not force:
        raise ConsortiumError(
            f"{directory} already holds {', '.join(present)}; refusing to "
            "replace keys (to renew a certificate make a renewal request; "
            "force makes new keys, which must then be enrolled again)")

    make_private_dir(directory)
    tls_pem = pki.make_key()
    signing = nacl.signing.SigningKey.generate()
    sealing = nacl.public.PrivateKey.generate()
    contents = (tls_pem, key_hex(bytes(signing)), key_hex(bytes(sealing)))
    for filename, data in zip(KEY_FILES, contents):
        try:
            write_private(directory / filename, data, exclusive=not force)
        except FileExistsError:
            raise ConsortiumError(f"{directory / filename}: appeared while "
                                  "the keys were being written; not "
                                  "replaced") from None

    return _write_request(directory, name, tls_pem, signing, sealing)


def renewal_request(directory: Path) -> Path:
    """A new enrolment request, with the lab's existing keys, in
    ``directory/REQUEST_FILE``; returns its path.

    The lab's name is read from its installed ``tls.crt`` or, before its
    first installation, from the request ``lab_keygen`` wrote.
    """
    directory = Path(directory)
    tls_pem = read_file(directory / "tls.key")
    signing = nacl.signing.SigningKey(read_key_hex(directory / "signing.key"))
    sealing = nacl.public.PrivateKey(read_key_hex(directory / "sealing.key"))
    name = _lab_name_of(directory)
    if name is None:
        raise ConsortiumError(f"{directory}: neither tls.crt nor "
                              f"{REQUEST_FILE} names the lab")
    return _write_request(directory, name, tls_pem, signing, sealing)


def install_response(lab_dir: Path, response_dir: Path, *,
                     now: datetime.datetime | None = None,
                     switch_consortium: bool = False) -> None:
    """Check the operator's response and copy it into ``lab_dir``.

    The certificate must be issued by the response's CA, be for this
    lab's ``tls.key``, name this lab and bind its signing key, last at
    most 30 days and not have expired; the response's ``consortium.toml``
    must list the lab with its own signing and sealing keys. When the lab
    directory already holds a ``ca.crt`` or a ``consortium.toml``, the
    response must keep the same CA and consortium id, unless
    ``switch_consortium``. Then ``ca.crt``, ``consortium.toml`` and
    ``tls.crt`` are each replaced atomically. ConsortiumError, naming the
    file, otherwise; nothing is written then.
    """
    lab_dir, response_dir = Path(lab_dir), Path(response_dir)
    cert_path = response_dir / "tls.crt"
    ca_path = response_dir / "ca.crt"
    toml_path = response_dir / CONSORTIUM_FILE
    cert_pem, ca_pem, toml = (read_file(p)
                              for p in (cert_path, ca_path, toml_path))
    consortium = _parse_definition(toml, toml_path)
    tls_key = read_file(lab_dir / "tls.key")
    signing = nacl.signing.SigningKey(read_key_hex(lab_dir / "signing.key"))
    sealing = nacl.public.PrivateKey(read_key_hex(lab_dir / "sealing.key"))
    own = LabKeys(bytes(signing.verify_key), bytes(sealing.public_key))

    _named(ca_path, pki.check_ca_cert, ca_pem)
    _named(cert_path, pki.check_issued, cert_pem, ca_pem)
    try:
        pki.check_key_pair(tls_key, cert_pem)
    except ConsortiumError:
        raise ConsortiumError(f"{cert_path}: not a certificate for "
                              f"{lab_dir / 'tls.key'}") from None
    name = _named(cert_path, pki.lab_name_from_cert, cert_pem)
    expected = _lab_name_of(lab_dir)
    if expected is not None and name != expected:
        raise ConsortiumError(f"{cert_path}: a certificate for lab {name}, "
                              f"but {lab_dir} is lab {expected}")
    bound = _named(cert_path, pki.signing_key_from_cert, cert_pem)
    if bound != own.signing_key:
        raise ConsortiumError(f"{cert_path}: does not bind the signing key "
                              f"in {lab_dir / 'signing.key'}")
    _named(cert_path, pki.check_lifetime, cert_pem)
    if pki.not_after(cert_pem) <= _utc(now):
        raise ConsortiumError(f"{cert_path}: the certificate has expired")
    if name not in consortium.labs:
        raise ConsortiumError(f"{toml_path}: lab {name} is not a member")
    if consortium.labs[name] != own:
        raise ConsortiumError(f"{toml_path}: the keys pinned for lab {name} "
                              f"are not those in {lab_dir}")
    if not switch_consortium:
        _check_same_consortium(lab_dir, ca_pem, consortium)

    write_public(lab_dir / "ca.crt", ca_pem)
    write_public(lab_dir / CONSORTIUM_FILE, toml)
    write_public(lab_dir / "tls.crt", cert_pem)


# ----------------------------------------------------------- operator side


def read_request(path: Path) -> EnrolmentRequest:
    """The enrolment request in the file at ``path``, checked: its form,
    the lab name, the CSR (self-signature, subject, SANs), that the CSR
    names the request's lab and signing key, that the sealing key is
    usable, and the proof of possession by the signing key.
    ConsortiumError naming ``path`` otherwise."""
    path = Path(path)
    raw = read_file(path)
    if len(raw) > MAX_REQUEST_BYTES:
        raise ConsortiumError(f"{path}: larger than an enrolment request "
                              "can be")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConsortiumError(f"{path}: not a JSON enrolment request") \
            from None
    if not isinstance(doc, dict) or doc.get("format") != REQUEST_FORMAT:
        raise ConsortiumError(f"{path}: not a labmatch enrolment request")
    if doc.get("version") != REQUEST_VERSION:
        raise ConsortiumError(f"{path}: request version must be "
                              f"{REQUEST_VERSION}")
    if set(doc) != REQUEST_FIELDS:
        odd = sorted(set(doc) ^ REQUEST_FIELDS)
        raise ConsortiumError(f"{path}: missing or unexpected fields: "
                              f"{', '.join(odd)}")

    name = doc["name"]
    try:
        validate_lab_name(name)
    except ConsortiumError as exc:
        raise ConsortiumError(f"{path}: {exc}") from None
    signing_key = _hex_field(doc, "signing_key", 32, path)
    sealing_key = _hex_field(doc, "sealing_key", 32, path)
    proof = _hex_field(doc, "proof", 64, path)
    if not isinstance(doc["csr"], str) or not doc["csr"].isascii():
        raise ConsortiumError(f"{path}: csr must be PEM text")
    csr = _named(path, pki.read_lab_csr, doc["csr"].encode("ascii"))

    if csr.name != name:
        raise ConsortiumError(f"{path}: the CSR is for lab {csr.name}, "
                              f"not {name}")
    if csr.signing_key != signing_key:
        raise ConsortiumError(f"{path}: the signing key named in the CSR "
                              "is not the request's signing_key")
    _check_sealing_key(sealing_key, path)
    message = proof_message(name, csr.der, sealing_key)
    try:
        nacl.signing.VerifyKey(signing_key).verify(message, proof)
    except (nacl.exceptions.BadSignatureError, ValueError,
            nacl.exceptions.CryptoError):
        raise ConsortiumError(f"{path}: the proof of possession does not "
                              "verify with the request's signing key") \
            from None

    return EnrolmentRequest(name, csr, signing_key, sealing_key)


def enrol(consortium_dir: Path, request_path: Path, *,
          out_dir: Path | None = None,
          now: datetime.datetime | None = None,
          replace_keys: bool = False) -> Path:
    """Enrol (or renew) the lab whose request is at ``request_path``.

    Operator side, offline: needs ``DIR/ca/ca.key``. Checks the request
    (``read_request``), pins the lab's keys in ``DIR/consortium.toml``
    (added for a new lab; unchanged for the same keys; refused for other
    keys of a pinned lab unless ``replace_keys``, and refused always for
    keys pinned for another lab), issues a 30-day certificate, and writes
    ``tls.crt``, ``ca.crt`` and ``consortium.toml`` into the response
    directory (default ``DIR/issued/NAME``), which it returns. A response
    directory holding any other file is refused.
    """
    directory = Path(consortium_dir)
    request = read_request(request_path)
    ca = load_ca_dir(directory / "ca")
    toml_path = directory / CONSORTIUM_FILE
    toml = read_file(toml_path)
    consortium = _parse_definition(toml, toml_path)
    name = request.name
    response = Path(out_dir) if out_dir is not None \
        else directory / "issued" / name
    _check_response_dir(response)

    for other, keys in consortium.labs.items():
        theirs = {keys.signing_key, keys.sealing_key}
        if other != name and theirs & {request.signing_key,
                                       request.sealing_key}:
            raise ConsortiumError(f"{request_path}: its keys are already "
                                  f"pinned for lab {other} in {toml_path}")
    pinned = consortium.labs.get(name)
    changed = pinned != request.keys
    if pinned is not None and changed and not replace_keys:
        raise ConsortiumError(
            f"{request_path}: lab {name} is pinned in {toml_path} with other "
            "keys; refusing to replace them (replace_keys, only once the "
            "lab is known to have made new keys)")
    if changed:
        labs = {**consortium.labs, name: request.keys}
        try:
            consortium = Consortium(consortium.consortium_id,
                                    consortium.coordinator,
                                    consortium.kinds, labs)
        except ConsortiumError as exc:
            raise ConsortiumError(f"{toml_path}: cannot add lab {name}: "
                                  f"{exc}") from None
        toml = consortium.to_toml().encode()

    cert_pem = _named(directory / "ca", ca.certify_lab, request.csr, now)
    if changed:
        write_public(toml_path, toml)
    make_private_dir(response)
    write_public(response / "ca.crt", ca.cert_pem)
    write_public(response / CONSORTIUM_FILE, toml)
    write_public(response / "tls.crt", cert_pem)

    return response


def load_ca_dir(ca_dir: Path) -> pki.CA:
    """The CA in ``ca_dir`` (``ca.key`` and ``ca.crt``), checked."""
    ca_dir = Path(ca_dir)
    key_pem = read_file(ca_dir / "ca.key")
    cert_pem = read_file(ca_dir / "ca.crt")

    return _named(ca_dir, pki.load_ca, key_pem, cert_pem)


def load_consortium_file(path: Path) -> Consortium:
    """The consortium defined in the TOML file at ``path``."""
    path = Path(path)
    return _parse_definition(read_file(path), path)


# ------------------------------------------------------------------ expiry


def certificate_expiry(cert_pem: bytes) -> datetime.datetime:
    """The last instant (UTC) at which the certificate is valid."""
    return pki.not_after(cert_pem)


def expiry_warning(cert_pem: bytes,
                   now: datetime.datetime | None = None) -> str | None:
    """A sentence when the certificate expires within ``EXPIRY_WARNING``
    or has expired; None otherwise."""
    expiry = certificate_expiry(cert_pem)
    left = expiry - _utc(now)
    if left > EXPIRY_WARNING:
        return None
    try:
        whose = f"lab {pki.lab_name_from_cert(cert_pem)}'s certificate"
    except ConsortiumError:
        whose = "the certificate"
    when = expiry.strftime("%Y-%m-%d %H:%M UTC")
    renew = ("run `labmatch lab renew` on the lab directory and have the "
             "consortium operator enrol the request")
    if left <= datetime.timedelta(0):
        return f"{whose} expired on {when}; {renew}."
    if left < datetime.timedelta(days=1):
        return f"{whose} expires in less than a day, on {when}; {renew}."
    days = left.days

    return (f"{whose} expires in {days} day{'s' if days != 1 else ''}, "
            f"on {when}; {renew}.")


# ---------------------------------------------------------------- helpers


def proof_message(name: str, csr_der: bytes, sealing_key: bytes) -> bytes:
    """The bytes a lab's signing key signs in its enrolment request."""
    if len(sealing_key) != 32:
        raise ValueError("a sealing key is 32 bytes")

    return PROOF_LABEL + lp(name.encode("utf-8")) + lp(csr_der) + sealing_key


def _write_request(directory: Path, name: str, tls_pem: bytes,
                   signing: nacl.signing.SigningKey,
                   sealing: nacl.public.PrivateKey) -> Path:
    signing_pub = bytes(signing.verify_key)
    sealing_pub = bytes(sealing.public_key)
    csr_pem = _named(directory / "tls.key", pki.make_lab_csr, tls_pem, name,
                     signing_pub)
    der = pki.read_lab_csr(csr_pem).der
    proof = signing.sign(proof_message(name, der, sealing_pub)).signature
    doc = {
        "format": REQUEST_FORMAT,
        "version": REQUEST_VERSION,
        "name": name,
        "csr": csr_pem.decode("ascii"),
        "signing_key": signing_pub.hex(),
        "sealing_key": sealing_pub.hex(),
        "proof": proof.hex(),
    }
    path = directory / REQUEST_FILE
    write_public(path, (json.dumps(doc, indent=2) + "\n").encode())

    return path


def _lab_name_of(directory: Path) -> str | None:
    """The lab name ``directory`` already records: from its certificate,
    else from its enrolment request; None when it records none."""
    cert_path = directory / "tls.crt"
    if cert_path.exists():
        return _named(cert_path, pki.lab_name_from_cert, read_file(cert_path))
    request_path = directory / REQUEST_FILE
    if request_path.exists():
        return read_request(request_path).name

    return None


def _check_same_consortium(lab_dir: Path, ca_pem: bytes,
                           consortium: Consortium) -> None:
    old_ca = lab_dir / "ca.crt"
    if old_ca.exists():
        same = False
        try:
            same = (x509.load_pem_x509_certificate(read_file(old_ca))
                    == x509.load_pem_x509_certificate(ca_pem))
        except (ValueError, x509.InvalidVersion):
            pass
        if not same:
            raise ConsortiumError(f"{old_ca}: the response comes from "
                                  "another CA; refusing to switch "
                                  "(switch_consortium)")
    old_toml = lab_dir / CONSORTIUM_FILE
    if old_toml.exists():
        old = load_consortium_file(old_toml)
        if old.consortium_id != consortium.consortium_id:
            raise ConsortiumError(f"{old_toml}: the response is for "
                                  "another consortium; refusing to switch "
                                  "(switch_consortium)")


def _check_response_dir(response: Path) -> None:
    if os.path.lexists(response) and not response.is_dir():
        raise ConsortiumError(f"{response} exists and is not a directory")
    if response.is_dir():
        other = sorted(p.name for p in response.iterdir()
                       if p.name not in RESPONSE_FILES)
        if other:
            raise ConsortiumError(f"{response}: holds other files "
                                  f"({', '.join(other)}); choose an empty "
                                  "or a previous response directory")


def _check_sealing_key(key: bytes, path: Path) -> None:
    # A low-order X25519 point would make every shared secret predictable;
    # libsodium refuses the all-zero result such a point gives.
    try:
        nacl.bindings.crypto_scalarmult(
            bytes(nacl.public.PrivateKey.generate()), key)
    except nacl.exceptions.CryptoError:
        raise ConsortiumError(f"{path}: the sealing key is not a usable "
                              "X25519 public key") from None


def _hex_field(doc: dict, field: str, size: int, path: Path) -> bytes:
    value = doc[field]
    if not (isinstance(value, str) and len(value) == 2 * size
            and HEX.fullmatch(value)):
        raise ConsortiumError(f"{path}: {field} must be {2 * size} "
                              "lowercase hex digits")

    return bytes.fromhex(value)


def _parse_definition(data: bytes, path: Path) -> Consortium:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConsortiumError(f"{path}: not UTF-8 text") from None

    return Consortium.from_toml(text, source=str(path))


def _named(path: Path, check, *args):
    """``check(*args)``, with a ConsortiumError prefixed by ``path``."""
    try:
        return check(*args)
    except ConsortiumError as exc:
        raise ConsortiumError(f"{path}: {exc}") from None


def _utc(now: datetime.datetime | None) -> datetime.datetime:
    if now is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    return now.astimezone(datetime.timezone.utc)
