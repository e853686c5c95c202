"""Consortium set-up, and the credentials a lab directory holds.

``init_consortium(DIR, labs)`` writes the development set-up::

    DIR/consortium.toml          the definition, every lab's keys pinned
    DIR/ca/                      ca.key, ca.crt, README.txt (key: offline)
    DIR/coordinator/             tls.key, tls.crt, ca.crt
    DIR/labs/NAME/               tls.key, tls.crt, ca.crt, signing.key,
                                 sealing.key, consortium.toml

Each ``labs/NAME`` directory is self-contained and is meant to be moved to
that lab's own machine. ``signing.key`` holds the lab's Ed25519 seed and
``sealing.key`` its X25519 private key, each as 64 lowercase hex digits
(32 bytes) and a newline. No blinding seed is written here: a lab makes
its own on first use. Private keys are mode 0600, certificates and the
definition 0644, and every directory created 0700.

The development set-up runs the production steps of ``enrolment`` on one
machine: for each lab ``lab_keygen`` into ``labs/NAME``, then
``create_consortium`` (which pins every lab's keys and ``enrol``s each),
then ``install_response``; the intermediate requests and responses are
removed. ``create_consortium`` is also the operator's first step in
production, from requests the labs sent; ``enrol`` adds labs later.
"""
from __future__ import annotations

import contextlib
import datetime
import hmac
import ipaddress
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nacl.public
import nacl.signing

from labmatch.psi.consortium import (
    MAX_LABS,
    MIN_LABS,
    Consortium,
    LabKeys,
    validate_lab_name,
)
from labmatch.psi.errors import ConsortiumError
from labmatch.psi.identifiers import INPUT_KINDS

from . import pki
from .enrolment import (
    REQUEST_FILE,
    enrol,
    install_response,
    lab_keygen,
    load_consortium_file,
    read_request,
)
from .files import (
    make_private_dir,
    read_file,
    read_key_hex,
    write_private,
    write_public,
)

__all__ = [
    "DEFAULT_COORDINATOR",
    "DEFAULT_KINDS",
    "LabCredentials",
    "create_consortium",
    "init_consortium",
    "load_consortium_file",
    "load_lab",
]

DEFAULT_COORDINATOR = "127.0.0.1:50051"
# Every kind implemented, so `consortium init` without --kinds enables all.
DEFAULT_KINDS = INPUT_KINDS
CONSORTIUM_FILE = "consortium.toml"
DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DNS_NAME = re.compile(rf"{DNS_LABEL}(?:\.{DNS_LABEL})*")
PORT = re.compile(r"[0-9]{1,5}")

CA_README = """\
labmatch development CA
=======================

This directory was made by `labmatch consortium init`. It is the
development set-up, not a production PKI.

ca.key   The CA's private key. Keep it offline: move it to offline storage
         and remove it from any networked machine. Whoever holds it can
         issue certificates that the coordinator and every lab accept.
         Neither the coordinator nor any lab ever needs it.
ca.crt   The CA certificate. Public; a copy is in coordinator/ and in
         every labs/NAME/ directory.

`labmatch consortium enrol` uses ca.key to certify a lab's enrolment
request (a new lab, or a renewal); run it offline.

`labmatch consortium init --force` on this directory keeps ca.key and
ca.crt as they are and issues every other key and certificate afresh;
it needs ca.key back in place to do so. Lab and coordinator certificates
are valid for 30 days, the CA for 365.
"""


@dataclass(frozen=True, repr=False, eq=False)
class LabCredentials:
    """What a lab directory holds. The repr shows no key material."""

    directory: Path
    name: str
    consortium: Consortium
    tls_key: bytes
    tls_cert: bytes
    ca_cert: bytes
    signing_key: nacl.signing.SigningKey
    sealing_key: nacl.public.PrivateKey

    def __repr__(self) -> str:
        return (f"LabCredentials(directory={str(self.directory)!r}, "
                f"name={self.name!r})")


def init_consortium(
    directory: Path,
    labs: Sequence[str],
    *,
    coordinator: str = DEFAULT_COORDINATOR,
    kinds: Sequence[str] = DEFAULT_KINDS,
    force: bool = False,
) -> Consortium:
    """Write a new consortium's development set-up into ``directory``.

    Refuses an existing ``directory`` unless ``force``; with ``force``, a
    CA key already in ``directory/ca`` is loaded and kept, never replaced,
    and everything else is issued afresh.
    """
    directory = Path(directory)
    names = _check_labs(labs)
    kind_list = _check_kinds(kinds)
    _check_coordinator(coordinator)
    _prepare(directory, force)
    _ensure_ca(directory / "ca")

    lab_dirs = [directory / "labs" / name for name in names]
    requests = [lab_keygen(lab_dir, name, force=force)
                for lab_dir, name in zip(lab_dirs, names)]
    consortium = create_consortium(directory, requests,
                                   coordinator=coordinator, kinds=kind_list,
                                   force=True)
    issued = directory / "issued"
    for lab_dir, name in zip(lab_dirs, names):
        install_response(lab_dir, issued / name, switch_consortium=True)
        shutil.rmtree(issued / name)
        (lab_dir / REQUEST_FILE).unlink()
    with contextlib.suppress(OSError):
        issued.rmdir()  # only if nothing else was issued there

    return consortium


def create_consortium(
    directory: Path,
    requests: Sequence[Path],
    *,
    coordinator: str = DEFAULT_COORDINATOR,
    kinds: Sequence[str] = DEFAULT_KINDS,
    force: bool = False,
    now: datetime.datetime | None = None,
) -> Consortium:
    """Found a consortium from the labs' enrolment requests.

    Operator side, offline. Uses the CA in ``directory/ca`` (made there if
    there is none), checks every request, writes
    ``directory/consortium.toml`` with a new consortium id and every
    lab's keys pinned, issues the coordinator's key and certificate into
    ``directory/coordinator`` and enrols each request, so that each lab's
    response is in ``directory/issued/NAME``. Refuses a ``directory``
    that already has a ``consortium.toml`` unless ``force`` (use
    ``enrol`` to add a lab to a consortium).
    """
    directory = Path(directory)
    requests = [Path(path) for path in requests]
    kind_list = _check_kinds(kinds)
    address, host = _check_coordinator(coordinator)
    toml_path = directory / CONSORTIUM_FILE
    if os.path.lexists(toml_path) and not force:
        raise ConsortiumError(f"{toml_path} already exists; enrol adds a "
                              "lab to it (force founds a new consortium)")
    checked = [read_request(path) for path in requests]
    _check_labs([r.name for r in checked])
    _check_distinct_keys(checked, requests)

    make_private_dir(directory)
    ca = _ensure_ca(directory / "ca")
    consortium = Consortium(
        consortium_id=secrets.token_hex(8),
        coordinator=address,
        kinds=kind_list,
        labs={r.name: r.keys for r in checked},
    )
    write_public(toml_path, consortium.to_toml().encode())
    _write_coordinator(directory / "coordinator", ca, host, now)
    for path in requests:
        enrol(directory, path, now=now)

    return consortium


def load_lab(directory: Path) -> LabCredentials:
    """The credentials in lab directory ``directory``, checked.

    The certificate must name a member of the consortium, chain to the
    directory's CA, match its key, last at most 30 days and bind the lab's
    signing key; the signing and sealing keys must match the public keys
    pinned for that lab. ConsortiumError, naming the file, otherwise.
    Expiry is not checked here (see ``enrolment.expiry_warning``).
    """
    directory = Path(directory)
    toml_path = directory / CONSORTIUM_FILE
    consortium = load_consortium_file(toml_path)
    tls_key, tls_cert, ca_cert = (
        read_file(directory / f) for f in ("tls.key", "tls.crt", "ca.crt"))
    name = _lab_of_cert(directory, tls_key, tls_cert, ca_cert)
    if name not in consortium.labs:
        raise ConsortiumError(f"{directory / 'tls.crt'}: lab {name} is not "
                              f"a member of the consortium in {toml_path}")

    signing = nacl.signing.SigningKey(read_key_hex(directory / "signing.key"))
    sealing = nacl.public.PrivateKey(read_key_hex(directory / "sealing.key"))
    _check_pinned(directory, consortium.labs[name], signing, sealing)
    _check_bound(directory, tls_cert, signing)

    return LabCredentials(directory, name, consortium, tls_key, tls_cert,
                          ca_cert, signing, sealing)


def _check_labs(labs: Sequence[str]) -> list[str]:
    if isinstance(labs, str):
        raise ConsortiumError("labs must be a list of names, not one string")
    names = list(labs)
    for name in names:
        try:
            validate_lab_name(name)
        except ConsortiumError as exc:
            raise ConsortiumError(f"labs: {exc}") from None
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ConsortiumError(f"labs: {', '.join(repeated)} given twice")
    if not MIN_LABS <= len(names) <= MAX_LABS:
        raise ConsortiumError(f"labs: a consortium needs {MIN_LABS} to "
                              f"{MAX_LABS} labs, not {len(names)}")

    return names


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    if isinstance(kinds, str):
        raise ConsortiumError("kinds must be a list, not one string")
    chosen = tuple(kinds)
    supported = frozenset(INPUT_KINDS)
    unknown = [k for k in chosen if k not in supported]
    if unknown:
        raise ConsortiumError(
            f"kinds: unsupported {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(sorted(supported))}")
    if not chosen or len(set(chosen)) != len(chosen):
        raise ConsortiumError("kinds: give at least one, each once")

    return chosen


def _check_coordinator(text: str) -> tuple[str, str]:
    """(normalised HOST:PORT, bare host) from ``text``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not PORT.fullmatch(port) \
            or not 1 <= int(port) <= 65535:
        raise ConsortiumError(f"coordinator {text!r} must be HOST:PORT "
                              "with a port from 1 to 65535")

    if host.startswith("[") and host.endswith("]"):
        bare = _ipv6(host[1:-1], text)
        return f"[{bare}]:{int(port)}", bare
    bare = _host(host, text)

    return f"{bare}:{int(port)}", bare


def _ipv6(host: str, text: str) -> str:
    try:
        return ipaddress.IPv6Address(host).compressed
    except ValueError:
        raise ConsortiumError(f"coordinator {text!r}: {host!r} in "
                              "brackets is not an IPv6 address") from None


def _host(host: str, text: str) -> str:
    if ":" in host:
        raise ConsortiumError(f"coordinator {text!r}: put an IPv6 address "
                              "in brackets, as in [::1]:50051")
    try:
        return ipaddress.IPv4Address(host).compressed
    except ValueError:
        pass
    name = host.lower()
    if (len(name) > 253 or not DNS_NAME.fullmatch(name)
            or name.rsplit(".", 1)[-1].isdigit()):
        raise ConsortiumError(f"coordinator {text!r}: {host!r} is neither "
                              "an IP address nor a DNS name (write "
                              "international names in xn-- form)")

    return name


def _prepare(directory: Path, force: bool) -> None:
    if os.path.lexists(directory):
        if not force:
            raise ConsortiumError(f"{directory} already exists; use --force "
                                  "to issue it afresh (its CA key is kept)")
        if not directory.is_dir():
            raise ConsortiumError(f"{directory} exists and is not a "
                                  "directory")
    make_private_dir(directory)


def _ensure_ca(ca_dir: Path) -> pki.CA:
    key_path, cert_path = ca_dir / "ca.key", ca_dir / "ca.crt"
    make_private_dir(ca_dir)
    if os.path.lexists(key_path):
        ca = _reuse_ca(key_path, cert_path)
    else:
        key_pem, cert_pem = pki.make_ca()
        write_private(key_path, key_pem, exclusive=True)
        write_public(cert_path, cert_pem)
        ca = pki.load_ca(key_pem, cert_pem)
    write_public(ca_dir / "README.txt", CA_README.encode())

    return ca


def _reuse_ca(key_path: Path, cert_path: Path) -> pki.CA:
    if not cert_path.exists():
        raise ConsortiumError(f"{cert_path} is missing but {key_path} "
                              "exists; restore ca.crt (a CA key is never "
                              "replaced)")
    try:
        return pki.load_ca(read_file(key_path), read_file(cert_path))
    except ConsortiumError as exc:
        raise ConsortiumError(f"{key_path.parent}: {exc}") from None


def _check_distinct_keys(checked: Sequence, paths: Sequence[Path]) -> None:
    seen: dict[bytes, Path] = {}
    for request, path in zip(checked, paths):
        for key in (request.signing_key, request.sealing_key):
            if key in seen:
                raise ConsortiumError(f"{path}: its keys are also in "
                                      f"{seen[key]}")
            seen[key] = path


def _write_coordinator(directory: Path, ca: pki.CA, host: str,
                       now: datetime.datetime | None) -> None:
    key_pem, cert_pem = ca.issue_coordinator([host], now=now)
    make_private_dir(directory)
    write_private(directory / "tls.key", key_pem)
    write_public(directory / "tls.crt", cert_pem)
    write_public(directory / "ca.crt", ca.cert_pem)


def _lab_of_cert(directory: Path, key_pem: bytes, cert_pem: bytes,
                 ca_pem: bytes) -> str:
    cert_path = directory / "tls.crt"
    try:
        pki.check_key_pair(key_pem, cert_pem)
    except ConsortiumError as exc:
        raise ConsortiumError(f"{directory / 'tls.key'}: {exc}") from None
    try:
        pki.check_issued(cert_pem, ca_pem)
        pki.check_lifetime(cert_pem)
        return pki.lab_name_from_cert(cert_pem)
    except ConsortiumError as exc:
        raise ConsortiumError(f"{cert_path}: {exc}") from None


def _check_pinned(directory: Path, pinned: LabKeys,
                  signing: nacl.signing.SigningKey,
                  sealing: nacl.public.PrivateKey) -> None:
    toml_path = directory / CONSORTIUM_FILE
    checks = (
        ("signing.key", bytes(signing.verify_key), pinned.signing_key),
        ("sealing.key", bytes(sealing.public_key), pinned.sealing_key),
    )
    for filename, actual, expected in checks:
        if not hmac.compare_digest(actual, expected):
            raise ConsortiumError(
                f"{directory / filename}: its public key differs from the "
                f"one pinned in {toml_path}")


def _check_bound(directory: Path, cert_pem: bytes,
                 signing: nacl.signing.SigningKey) -> None:
    cert_path = directory / "tls.crt"
    try:
        bound = pki.signing_key_from_cert(cert_pem)
    except ConsortiumError as exc:
        raise ConsortiumError(f"{cert_path}: {exc}") from None
    if bound is None:
        raise ConsortiumError(f"{cert_path}: binds no signing key (issued "
                              "before enrolment bound one); renew it")
    if not hmac.compare_digest(bound, bytes(signing.verify_key)):
        raise ConsortiumError(f"{cert_path}: the signing key it binds is "
                              f"not the one in {directory / 'signing.key'}")
