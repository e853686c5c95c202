"""Production enrolment: lab keygen, operator enrol, lab install, expiry."""
from __future__ import annotations

import datetime
import json
import shutil
import stat
import struct
from pathlib import Path

import nacl.public
import nacl.signing
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from labmatch.client import pki
from labmatch.client.consortium import (
    create_consortium,
    init_consortium,
    load_consortium_file,
    load_lab,
)
from labmatch.client.enrolment import (
    EXPIRY_WARNING,
    REQUEST_FILE,
    certificate_expiry,
    enrol,
    expiry_warning,
    install_response,
    lab_keygen,
    read_request,
    renewal_request,
)
from labmatch.psi.errors import ConsortiumError

LABS = ("alpha", "beta", "gamma")
UTC = datetime.timezone.utc
SIGNING_URI = "urn:labmatch:signing-key:ed25519:"


@pytest.fixture
def operator(tmp_path) -> Path:
    """A three-lab development consortium: the operator's DIR."""
    directory = tmp_path / "consortium"
    init_consortium(directory, LABS)
    return directory


@pytest.fixture
def delta(tmp_path) -> tuple[Path, Path]:
    """A new lab 'delta' that has run keygen: (lab dir, request path)."""
    lab_dir = tmp_path / "delta-site" / "lab"
    return lab_dir, lab_keygen(lab_dir, "delta")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(certificate) -> list[str]:
    return certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)


def public_keys(lab_dir: Path) -> tuple[bytes, bytes]:
    signing = nacl.signing.SigningKey(
        bytes.fromhex((lab_dir / "signing.key").read_text()))
    sealing = nacl.public.PrivateKey(
        bytes.fromhex((lab_dir / "sealing.key").read_text()))
    return bytes(signing.verify_key), bytes(sealing.public_key)


def signing_key(lab_dir: Path) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(
        bytes.fromhex((lab_dir / "signing.key").read_text()))


def edit_request(path: Path, **fields) -> None:
    doc = json.loads(path.read_text())
    doc.update(fields)
    path.write_text(json.dumps(doc))


def expected_proof_message(name: str, csr_der: bytes, sealing: bytes):
    """The documented proof encoding, rebuilt independently."""
    return (b"LABMATCH-V1-SIG/enrolment-request"
            + struct.pack(">H", len(name)) + name.encode()
            + struct.pack(">H", len(csr_der)) + csr_der + sealing)


def resign(path: Path, lab_dir: Path) -> None:
    """Make the request's proof valid again over its current fields."""
    doc = json.loads(path.read_text())
    der = x509.load_pem_x509_csr(doc["csr"].encode()).public_bytes(
        serialization.Encoding.DER)
    message = expected_proof_message(doc["name"], der,
                                     bytes.fromhex(doc["sealing_key"]))
    edit_request(path, proof=signing_key(lab_dir).sign(message)
                 .signature.hex())


def csr_pem(key: ec.EllipticCurvePrivateKey, name: str,
            uris: list[str]) -> str:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    name)]))
        .add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(u) for u in uris]), False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM).decode()
    )


def tls_key(lab_dir: Path) -> ec.EllipticCurvePrivateKey:
    return serialization.load_pem_private_key(
        (lab_dir / "tls.key").read_bytes(), None)


def load_operator_ca(directory: Path) -> pki.CA:
    return pki.load_ca((directory / "ca" / "ca.key").read_bytes(),
                       (directory / "ca" / "ca.crt").read_bytes())


def cert_binding(directory: Path, lab_dir: Path, name: str,
                 bound_key: bytes) -> bytes:
    """A CA certificate for the lab's TLS key binding ``bound_key``."""
    ca = load_operator_ca(directory)
    csr = pki.LabCSR(name, bound_key, tls_key(lab_dir).public_key(), b"")
    return ca.certify_lab(csr)


class TestKeygen:
    def test_keys_are_0600_in_a_0700_directory(self, delta):
        """keygen makes the directory 0700, its keys 0600, in the formats
        load_lab reads; the request is public."""
        lab_dir, request = delta

        assert mode(lab_dir) == 0o700
        for name in ("tls.key", "signing.key", "sealing.key"):
            assert mode(lab_dir / name) == 0o600
        assert mode(request) == 0o644
        assert request == lab_dir / REQUEST_FILE
        assert isinstance(tls_key(lab_dir).curve, ec.SECP256R1)
        for name in ("signing.key", "sealing.key"):
            text = (lab_dir / name).read_text()
            assert len(text) == 65 and text.endswith("\n")
            bytes.fromhex(text)

    def test_request_has_a_valid_csr_and_proof(self, delta):
        """The CSR is self-signed for CN=NAME with both SAN URIs, and the
        proof verifies over the documented encoding."""
        lab_dir, request = delta
        doc = json.loads(request.read_text())
        signing_pub, sealing_pub = public_keys(lab_dir)
        csr = x509.load_pem_x509_csr(doc["csr"].encode())
        der = csr.public_bytes(serialization.Encoding.DER)

        assert doc["name"] == "delta"
        assert doc["signing_key"] == signing_pub.hex()
        assert doc["sealing_key"] == sealing_pub.hex()
        assert csr.is_signature_valid
        assert csr.public_key() == tls_key(lab_dir).public_key()
        assert csr.subject.rfc4514_string() == "CN=delta"
        assert sans(csr) == ["urn:labmatch:lab:delta",
                             SIGNING_URI + signing_pub.hex()]
        nacl.signing.VerifyKey(signing_pub).verify(
            expected_proof_message("delta", der, sealing_pub),
            bytes.fromhex(doc["proof"]))
        assert read_request(request).name == "delta"

    def test_request_holds_no_private_material(self, delta):
        """Neither private key appears in the request."""
        lab_dir, request = delta
        text = request.read_text()

        assert "PRIVATE" not in text
        for name in ("signing.key", "sealing.key"):
            assert (lab_dir / name).read_text().strip() not in text

    def test_existing_keys_are_refused_unless_force(self, delta):
        """keygen again refuses and keeps the keys; force makes new ones."""
        lab_dir, _ = delta
        before = {n: (lab_dir / n).read_bytes()
                  for n in ("tls.key", "signing.key", "sealing.key")}

        with pytest.raises(ConsortiumError, match="already holds"):
            lab_keygen(lab_dir, "delta")
        assert {n: (lab_dir / n).read_bytes() for n in before} == before

        lab_keygen(lab_dir, "delta", force=True)
        for name, old in before.items():
            assert (lab_dir / name).read_bytes() != old

    @pytest.mark.parametrize("bad", ["Delta", "", "a" * 33, "de lta"])
    def test_bad_name_is_refused_before_writing(self, tmp_path, bad):
        """An invalid lab name raises and creates nothing."""
        with pytest.raises(ConsortiumError, match="lab name"):
            lab_keygen(tmp_path / "lab", bad)
        assert not (tmp_path / "lab").exists()


class TestEnrol:
    def test_certificate_chains_to_ca_and_binds_both_uris(self, operator,
                                                          delta):
        """enrol issues a ≤30-day clientAuth certificate for the lab's
        TLS key, chaining to the CA, naming the lab and its signing key."""
        lab_dir, request = delta

        response = enrol(operator, request)

        leaf = load_cert(response / "tls.crt")
        ca = load_cert(operator / "ca" / "ca.crt")
        PolicyBuilder().store(Store([ca])).build_client_verifier() \
            .verify(leaf, [])
        signing_pub, _ = public_keys(lab_dir)
        assert response == operator / "issued" / "delta"
        assert leaf.public_key() == tls_key(lab_dir).public_key()
        assert sans(leaf) == ["urn:labmatch:lab:delta",
                              SIGNING_URI + signing_pub.hex()]
        assert list(leaf.extensions.get_extension_for_class(
            x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        assert lifetime <= pki.CERT_LIFETIME == datetime.timedelta(days=30)
        assert pki.signing_key_from_cert(leaf.public_bytes(
            serialization.Encoding.PEM)) == signing_pub
        assert (response / "ca.crt").read_bytes() \
            == (operator / "ca" / "ca.crt").read_bytes()

    def test_fourth_lab_is_pinned_and_others_kept(self, operator, delta):
        """Adding a lab to a 3-lab consortium pins its keys, keeps the
        id, coordinator, kinds and the other labs' pins."""
        lab_dir, request = delta
        before = load_consortium_file(operator / "consortium.toml")

        response = enrol(operator, request)

        after = load_consortium_file(operator / "consortium.toml")
        assert set(after.labs) == {*LABS, "delta"}
        assert {n: after.labs[n] for n in LABS} == before.labs
        assert (after.labs["delta"].signing_key,
                after.labs["delta"].sealing_key) == public_keys(lab_dir)
        assert (after.consortium_id, after.coordinator, after.kinds) == (
            before.consortium_id, before.coordinator, before.kinds)
        assert (response / "consortium.toml").read_bytes() \
            == (operator / "consortium.toml").read_bytes()

    @pytest.mark.parametrize("tamper, message", [
        ("csr-swapped", "proof of possession"),
        ("csr-byte", "CSR"),
        ("proof", "proof of possession"),
        ("sealing-key", "proof of possession"),
        ("name", "the CSR is for lab delta, not zeta"),
        ("san-signing-key", "signing key named in the CSR"),
        ("csr-extra-san", "subject alternative names"),
    ])
    def test_tampered_request_is_refused(self, operator, delta, tamper,
                                         message):
        """A request altered in any part is refused and changes nothing."""
        lab_dir, request = delta
        doc = json.loads(request.read_text())
        signing_hex = doc["signing_key"]
        if tamper == "csr-swapped":  # a valid CSR for another TLS key
            other = ec.generate_private_key(ec.SECP256R1())
            edit_request(request, csr=csr_pem(
                other, "delta",
                ["urn:labmatch:lab:delta", SIGNING_URI + signing_hex]))
        elif tamper == "csr-byte":
            der = bytearray(x509.load_pem_x509_csr(
                doc["csr"].encode()).public_bytes(serialization.Encoding.DER))
            der[-5] ^= 1
            edit_request(request, csr=x509.load_der_x509_csr(bytes(der))
                         .public_bytes(serialization.Encoding.PEM).decode())
        elif tamper == "proof":
            proof = bytearray.fromhex(doc["proof"])
            proof[0] ^= 1
            edit_request(request, proof=proof.hex())
        elif tamper == "sealing-key":
            other = nacl.public.PrivateKey.generate().public_key
            edit_request(request, sealing_key=bytes(other).hex())
        elif tamper == "name":
            edit_request(request, name="zeta")
            resign(request, lab_dir)
        elif tamper == "san-signing-key":  # the proof itself is valid
            other = nacl.signing.SigningKey.generate().verify_key
            edit_request(request, csr=csr_pem(
                tls_key(lab_dir), "delta",
                ["urn:labmatch:lab:delta", SIGNING_URI + bytes(other).hex()]))
            resign(request, lab_dir)
        elif tamper == "csr-extra-san":
            edit_request(request, csr=csr_pem(
                tls_key(lab_dir), "delta",
                ["urn:labmatch:lab:delta", SIGNING_URI + signing_hex,
                 "urn:labmatch:lab:alpha"]))
            resign(request, lab_dir)
        toml = (operator / "consortium.toml").read_bytes()

        with pytest.raises(ConsortiumError, match=message) as err:
            enrol(operator, request)
        assert str(request) in str(err.value)
        assert (operator / "consortium.toml").read_bytes() == toml
        assert not (operator / "issued").exists()

    def test_renewal_keeps_keys_and_pins(self, operator, delta):
        """renewal_request + enrol gives a new certificate for the same
        keys, and leaves consortium.toml byte-identical."""
        lab_dir, request = delta
        enrol(operator, request)
        install_response(lab_dir, operator / "issued" / "delta")
        first = load_cert(lab_dir / "tls.crt")
        toml = (operator / "consortium.toml").read_bytes()
        keys = {n: (lab_dir / n).read_bytes()
                for n in ("tls.key", "signing.key", "sealing.key")}
        later = datetime.datetime.now(UTC) + datetime.timedelta(days=20)

        response = enrol(operator, renewal_request(lab_dir), now=later)
        install_response(lab_dir, response, now=later)

        second = load_cert(lab_dir / "tls.crt")
        assert second.serial_number != first.serial_number
        assert second.not_valid_after_utc > first.not_valid_after_utc
        assert second.public_key() == first.public_key()
        assert sans(second) == sans(first)
        assert (operator / "consortium.toml").read_bytes() == toml
        assert {n: (lab_dir / n).read_bytes() for n in keys} == keys
        assert load_lab(lab_dir).name == "delta"

    def test_dev_lab_renews_through_the_same_path(self, operator):
        """A lab made by consortium init renews with the production steps."""
        lab_dir = operator / "labs" / "beta"
        toml = (operator / "consortium.toml").read_bytes()

        response = enrol(operator, renewal_request(lab_dir))
        install_response(lab_dir, response)

        assert load_lab(lab_dir).name == "beta"
        assert (operator / "consortium.toml").read_bytes() == toml

    def test_new_keys_for_a_pinned_lab_need_replace_keys(self, operator,
                                                         tmp_path):
        """A request with other keys for an existing name is refused;
        replace_keys re-pins that lab only."""
        lab_dir = tmp_path / "alpha-new"
        request = lab_keygen(lab_dir, "alpha")
        before = load_consortium_file(operator / "consortium.toml")

        with pytest.raises(ConsortiumError, match="replace_keys"):
            enrol(operator, request)
        assert load_consortium_file(operator / "consortium.toml") == before

        enrol(operator, request, replace_keys=True)
        after = load_consortium_file(operator / "consortium.toml")
        assert (after.labs["alpha"].signing_key,
                after.labs["alpha"].sealing_key) == public_keys(lab_dir)
        assert after.labs["beta"] == before.labs["beta"]

    def test_keys_pinned_for_another_lab_are_refused(self, operator,
                                                     tmp_path):
        """A new name with another lab's keys is refused."""
        lab_dir = tmp_path / "zeta"
        lab_keygen(lab_dir, "zeta")
        for name in ("tls.key", "signing.key", "sealing.key"):
            shutil.copy(operator / "labs" / "beta" / name, lab_dir / name)
        request = renewal_request(lab_dir)

        with pytest.raises(ConsortiumError, match="pinned for lab beta"):
            enrol(operator, request, replace_keys=True)

    def test_response_dir_with_other_files_is_refused(self, operator, delta,
                                                      tmp_path):
        """enrol never writes into a directory holding unrelated files."""
        _, request = delta
        out = tmp_path / "out"
        out.mkdir()
        (out / "notes.txt").write_text("keep")

        with pytest.raises(ConsortiumError, match="notes.txt"):
            enrol(operator, request, out_dir=out)
        assert [p.name for p in out.iterdir()] == ["notes.txt"]

    def test_enrol_needs_the_ca_key(self, operator, delta):
        """Without DIR/ca/ca.key enrol fails, naming the file."""
        _, request = delta
        (operator / "ca" / "ca.key").unlink()

        with pytest.raises(ConsortiumError, match=r"ca\.key: no such file"):
            enrol(operator, request)

    def test_create_consortium_from_requests(self, tmp_path):
        """The operator founds a consortium from two labs' requests; each
        installs its response and loads."""
        labs = {n: tmp_path / "sites" / n for n in ("east", "west")}
        requests = [lab_keygen(d, n) for n, d in labs.items()]
        directory = tmp_path / "op"

        consortium = create_consortium(directory, requests,
                                       coordinator="[::1]:7000")
        for name, lab_dir in labs.items():
            install_response(lab_dir, directory / "issued" / name)

        assert set(consortium.labs) == set(labs)
        assert load_lab(labs["east"]).consortium == consortium
        with pytest.raises(ConsortiumError, match="already exists"):
            create_consortium(directory, requests)


class TestInstall:
    def test_response_for_another_lab_is_refused(self, operator, delta,
                                                 tmp_path):
        """Another lab's response does not install, and nothing is
        written."""
        lab_dir, request = delta
        other_dir = tmp_path / "epsilon"
        enrol(operator, lab_keygen(other_dir, "epsilon"))
        enrol(operator, request)

        with pytest.raises(ConsortiumError, match="not a certificate for"):
            install_response(lab_dir, operator / "issued" / "epsilon")
        assert not (lab_dir / "tls.crt").exists()

    def test_certificate_for_another_name_is_refused(self, operator, delta):
        """A certificate for this lab's keys but another name is
        refused."""
        lab_dir, request = delta
        response = enrol(operator, request)
        ca = load_operator_ca(operator)
        signing_pub, _ = public_keys(lab_dir)
        csr = pki.LabCSR("alpha", signing_pub,
                         tls_key(lab_dir).public_key(), b"")
        (response / "tls.crt").write_bytes(ca.certify_lab(csr))

        with pytest.raises(ConsortiumError, match="lab alpha.*is lab delta"):
            install_response(lab_dir, response)
        assert not (lab_dir / "tls.crt").exists()

    def test_definition_pinning_other_keys_is_refused(self, operator, delta):
        """A response whose consortium.toml pins other keys for the lab is
        refused, naming that file."""
        lab_dir, request = delta
        response = enrol(operator, request)
        toml = response / "consortium.toml"
        _, sealing_pub = public_keys(lab_dir)
        forged = bytes(nacl.public.PrivateKey.generate().public_key)
        toml.write_text(toml.read_text().replace(sealing_pub.hex(),
                                                 forged.hex()))

        with pytest.raises(ConsortiumError,
                           match=r"consortium\.toml: the keys pinned"):
            install_response(lab_dir, response)
        assert not (lab_dir / "consortium.toml").exists()

    def test_certificate_binding_another_signing_key_is_refused(
            self, operator, delta):
        """A certificate that binds a signing key other than the lab's
        does not install."""
        lab_dir, request = delta
        response = enrol(operator, request)
        other = bytes(nacl.signing.SigningKey.generate().verify_key)
        (response / "tls.crt").write_bytes(
            cert_binding(operator, lab_dir, "delta", other))

        with pytest.raises(ConsortiumError, match="does not bind"):
            install_response(lab_dir, response)

    def test_response_from_another_ca_needs_switch(self, operator, tmp_path):
        """A lab that has a CA refuses a response from another CA unless
        switch_consortium."""
        lab_dir = operator / "labs" / "alpha"
        request = renewal_request(lab_dir)
        other = tmp_path / "other"
        init_consortium(other, ["x", "y"])
        ca_before = (lab_dir / "ca.crt").read_bytes()
        response = enrol(other, request)

        with pytest.raises(ConsortiumError, match="another CA"):
            install_response(lab_dir, response)
        assert (lab_dir / "ca.crt").read_bytes() == ca_before

        install_response(lab_dir, response, switch_consortium=True)
        assert load_lab(lab_dir).consortium.labs.keys() == {"x", "y",
                                                            "alpha"}

    def test_expired_certificate_is_refused(self, operator, delta):
        """A response whose certificate has already expired is refused."""
        lab_dir, request = delta
        past = datetime.datetime.now(UTC) - datetime.timedelta(days=31)
        response = enrol(operator, request, now=past)

        with pytest.raises(ConsortiumError, match="expired"):
            install_response(lab_dir, response)


class TestExpiry:
    @pytest.fixture
    def leaf(self):
        """A lab certificate issued at 2030-01-01, expiring 2030-01-31."""
        start = datetime.datetime(2030, 1, 1, tzinfo=UTC)
        ca = pki.load_ca(*pki.make_ca(now=start))
        _, pem = ca.issue_lab("alpha", now=start, signing_key=bytes(32))
        return pem, start + pki.CERT_LIFETIME

    def test_certificate_expiry_is_not_after(self, leaf):
        """certificate_expiry is the certificate's notAfter, in UTC."""
        pem, end = leaf

        assert certificate_expiry(pem) == end
        assert certificate_expiry(pem).tzinfo is not None

    def test_no_warning_with_twenty_days_left(self, leaf):
        """Twenty days before expiry there is no warning."""
        pem, end = leaf

        assert expiry_warning(pem, end - datetime.timedelta(days=20)) is None
        assert EXPIRY_WARNING == datetime.timedelta(days=7)
        assert expiry_warning(pem, end - datetime.timedelta(days=7,
                                                            seconds=1)) \
            is None

    def test_warning_with_six_days_left(self, leaf):
        """Six days before expiry the warning names lab, days and date."""
        pem, end = leaf

        text = expiry_warning(pem, end - datetime.timedelta(days=6))

        assert "alpha" in text and "6 days" in text
        assert "2030-01-31" in text and "renew" in text

    def test_warning_when_expired(self, leaf):
        """After expiry the warning says it expired."""
        pem, end = leaf

        text = expiry_warning(pem, end + datetime.timedelta(hours=1))

        assert "expired" in text and "2030-01-31" in text


class TestBinding:
    def test_load_lab_refuses_another_signing_key_in_the_cert(self,
                                                              operator):
        """A certificate binding another signing key does not load, even
        though it chains, matches tls.key and names a member."""
        lab_dir = operator / "labs" / "alpha"
        other = bytes(nacl.signing.SigningKey.generate().verify_key)
        (lab_dir / "tls.crt").write_bytes(
            cert_binding(operator, lab_dir, "alpha", other))

        with pytest.raises(ConsortiumError,
                           match=r"tls\.crt: the signing key it binds"):
            load_lab(lab_dir)

    def test_load_lab_refuses_a_cert_binding_no_signing_key(self, operator):
        """A certificate without the signing-key URI does not load."""
        lab_dir = operator / "labs" / "alpha"
        key, cert = load_operator_ca(operator).issue_lab("alpha")
        (lab_dir / "tls.key").write_bytes(key)
        (lab_dir / "tls.crt").write_bytes(cert)

        with pytest.raises(ConsortiumError, match="binds no signing key"):
            load_lab(lab_dir)

    def test_load_lab_refuses_a_leaf_longer_than_thirty_days(self, operator):
        """A leaf valid for 31 days, though signed by the CA, is refused."""
        lab_dir = operator / "labs" / "alpha"
        ca = load_operator_ca(operator)
        current = load_cert(lab_dir / "tls.crt")
        start = current.not_valid_before_utc
        long_lived = (
            x509.CertificateBuilder()
            .subject_name(current.subject)
            .issuer_name(ca.cert.subject)
            .public_key(current.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=31))
            .add_extension(current.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value, False)
            .sign(serialization.load_pem_private_key(
                (operator / "ca" / "ca.key").read_bytes(), None),
                hashes.SHA256())
        )
        (lab_dir / "tls.crt").write_bytes(
            long_lived.public_bytes(serialization.Encoding.PEM))

        with pytest.raises(ConsortiumError, match="longer than 30 days"):
            load_lab(lab_dir)

    def test_signing_key_from_cert(self, operator):
        """signing_key_from_cert reads the bound key; None without one."""
        lab = (operator / "labs" / "gamma" / "tls.crt").read_bytes()
        coordinator = (operator / "coordinator" / "tls.crt").read_bytes()

        assert pki.signing_key_from_cert(lab) \
            == load_consortium_file(operator / "consortium.toml") \
            .labs["gamma"].signing_key
        assert pki.signing_key_from_cert(coordinator) is None

    def test_no_leaf_outlives_cert_lifetime(self):
        """Every leaf the CA issues lasts at most CERT_LIFETIME."""
        ca = pki.load_ca(*pki.make_ca())
        _, lab = ca.issue_lab("alpha", signing_key=bytes(32))
        _, server = ca.issue_coordinator([])

        for pem in (lab, server):
            leaf = x509.load_pem_x509_certificate(pem)
            assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc
                    <= pki.CERT_LIFETIME)
