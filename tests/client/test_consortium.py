"""Consortium set-up: files and modes, certificates, lab credentials."""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import ssl
import stat
from pathlib import Path

import nacl.public
import nacl.signing
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from labmatch.client import pki
from labmatch.psi.identifiers import INPUT_KINDS
from labmatch.client.consortium import (
    DEFAULT_COORDINATOR,
    DEFAULT_KINDS,
    LabCredentials,
    init_consortium,
    load_consortium_file,
    load_lab,
)
from labmatch.client.files import (
    make_private_dir,
    write_private,
    write_public,
)
from labmatch.psi.errors import ConsortiumError

LABS = ("alpha", "beta", "gamma")
LAB_FILES = {"tls.key", "tls.crt", "ca.crt", "signing.key", "sealing.key",
             "consortium.toml"}
PRIVATE_FILES = {"ca.key", "tls.key", "signing.key", "sealing.key"}
UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, object]:
    """A consortium of three labs, shared by the read-only tests."""
    directory = tmp_path_factory.mktemp("made") / "consortium"
    consortium = init_consortium(directory, LABS,
                                 coordinator="coord.example.org:7443")
    return directory, consortium


@pytest.fixture
def fresh(tmp_path) -> Path:
    """A consortium a test may alter."""
    directory = tmp_path / "consortium"
    init_consortium(directory, LABS)
    return directory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def ext(certificate: x509.Certificate, kind):
    return certificate.extensions.get_extension_for_class(kind)


def key_hex(path: Path) -> str:
    return path.read_text().strip()


def relative_files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")
            if p.is_file()}


class TestLayout:
    def test_files_are_exactly_the_documented_ones(self, made):
        """init writes the definition, the CA, the coordinator and labs."""
        directory, _ = made
        expected = {"consortium.toml", "ca/ca.key", "ca/ca.crt",
                    "ca/README.txt", "coordinator/tls.key",
                    "coordinator/tls.crt", "coordinator/ca.crt"}
        expected |= {f"labs/{lab}/{f}" for lab in LABS for f in LAB_FILES}

        assert relative_files(directory) == expected

    def test_private_keys_are_owner_only(self, made):
        """Every private key file is mode 0600."""
        directory, _ = made
        keys = [p for p in directory.rglob("*") if p.name in PRIVATE_FILES]

        assert len(keys) == 1 + 1 + 3 * len(LABS)
        assert {mode(p) for p in keys} == {0o600}

    def test_public_files_are_world_readable_and_not_writable(self, made):
        """Certificates, README and definitions are mode 0644."""
        directory, _ = made
        public = [p for p in directory.rglob("*")
                  if p.is_file() and p.name not in PRIVATE_FILES]

        assert public
        assert {mode(p) for p in public} == {0o644}

    def test_directories_are_owner_only(self, made):
        """DIR and every directory under it are mode 0700."""
        directory, _ = made
        dirs = [directory, *(p for p in directory.rglob("*") if p.is_dir())]

        assert len(dirs) == 4 + len(LABS)
        assert {mode(p) for p in dirs} == {0o700}

    def test_coordinator_holds_only_its_tls_files(self, made):
        """coordinator/ holds tls.key, tls.crt and ca.crt, nothing else."""
        directory, _ = made
        names = {p.name for p in (directory / "coordinator").iterdir()}

        assert names == {"tls.key", "tls.crt", "ca.crt"}

    def test_no_seed_is_written(self, made):
        """No file anywhere is a blinding seed."""
        directory, _ = made
        names = [p.name.lower() for p in directory.rglob("*")]

        assert not [n for n in names if "seed" in n]

    def test_ca_readme_says_offline_and_development(self, made):
        """ca/README.txt says to keep the key offline, for development."""
        directory, _ = made
        text = (directory / "ca" / "README.txt").read_text().lower()

        assert "offline" in text and "development" in text

    def test_lab_copy_of_definition_is_identical(self, made):
        """Each lab directory carries a byte copy of consortium.toml."""
        directory, _ = made
        top = (directory / "consortium.toml").read_bytes()

        for lab in LABS:
            assert (directory / "labs" / lab / "consortium.toml"
                    ).read_bytes() == top

    def test_definition_has_defaults_and_random_id(self, made, tmp_path):
        """Defaults apply; two consortia get different 16-hex ids."""
        directory, consortium = made
        other = init_consortium(tmp_path / "other", ["a", "b"])

        assert other.coordinator == DEFAULT_COORDINATOR == "127.0.0.1:50051"
        assert other.kinds == DEFAULT_KINDS == INPUT_KINDS
        assert len(consortium.consortium_id) == 16
        assert int(consortium.consortium_id, 16) >= 0
        assert other.consortium_id != consortium.consortium_id
        assert load_consortium_file(directory / "consortium.toml") \
            == consortium

    def test_definition_pins_the_keys_in_each_lab_dir(self, made):
        """Pinned public keys are those of the lab's private key files."""
        directory, consortium = made

        for lab in LABS:
            lab_dir = directory / "labs" / lab
            signing = nacl.signing.SigningKey(
                bytes.fromhex(key_hex(lab_dir / "signing.key")))
            sealing = nacl.public.PrivateKey(
                bytes.fromhex(key_hex(lab_dir / "sealing.key")))
            pinned = consortium.labs[lab]
            assert bytes(signing.verify_key) == pinned.signing_key
            assert bytes(sealing.public_key) == pinned.sealing_key

    def test_secret_key_files_are_64_hex_and_newline(self, made):
        """signing.key and sealing.key hold 64 lowercase hex digits."""
        directory, _ = made

        for path in directory.glob("labs/*/s*.key"):
            text = path.read_text()
            assert text.endswith("\n") and len(text) == 65
            assert text[:64] == text[:64].lower()
            bytes.fromhex(text)

    def test_labs_get_distinct_keys(self, made):
        """No two labs share a signing or sealing key."""
        _, consortium = made
        keys = [k for pair in consortium.labs.values()
                for k in (pair.signing_key, pair.sealing_key)]

        assert len(set(keys)) == len(keys)


class TestArguments:
    @pytest.mark.parametrize("bad", [
        "Alpha", "a" * 33, "-alpha", "al_pha", "", "al pha", "é",
    ])
    def test_bad_lab_name_is_refused_before_writing(self, tmp_path, bad):
        """A malformed lab name raises and creates nothing."""
        directory = tmp_path / "c"

        with pytest.raises(ConsortiumError, match="labs"):
            init_consortium(directory, ["beta", bad])
        assert not directory.exists()

    def test_longest_lab_name_is_accepted(self, tmp_path):
        """A 32-character name is the longest allowed."""
        name = "a" + "-" * 30 + "z"

        consortium = init_consortium(tmp_path / "c", [name, "b"])

        assert name in consortium.labs

    def test_duplicate_lab_is_refused(self, tmp_path):
        """A lab given twice raises, naming it."""
        with pytest.raises(ConsortiumError, match="alpha given twice"):
            init_consortium(tmp_path / "c", ["alpha", "beta", "alpha"])

    @pytest.mark.parametrize("labs", [["alpha"], []])
    def test_fewer_than_two_labs_is_refused(self, tmp_path, labs):
        """A consortium needs at least two labs."""
        with pytest.raises(ConsortiumError, match="2 to"):
            init_consortium(tmp_path / "c", labs)

    def test_labs_as_one_string_is_refused(self, tmp_path):
        """A comma string is not silently split into letters."""
        with pytest.raises(ConsortiumError, match="not one string"):
            init_consortium(tmp_path / "c", "a,b")

    @pytest.mark.parametrize("kinds", [
        ["ip", "phone"], ["ip", "ip"], [], ["IP"],
    ])
    def test_bad_kinds_are_refused(self, tmp_path, kinds):
        """Unsupported, repeated or no kinds raise, naming kinds."""
        with pytest.raises(ConsortiumError, match="kinds"):
            init_consortium(tmp_path / "c", ["a", "b"], kinds=kinds)

    def test_chosen_kinds_are_kept_in_order(self, tmp_path):
        """A subset of supported kinds is recorded as given."""
        consortium = init_consortium(tmp_path / "c", ["a", "b"],
                                     kinds=["wallet", "ip"])

        assert consortium.kinds == ("wallet", "ip")

    @pytest.mark.parametrize("bad", [
        "localhost", "localhost:", ":50051", "host:0", "host:65536",
        "host:5x", "::1:50051", "[nothost]:1", "bad_host:1",
        "1.2.3.4.5:1", "-a.example:1",
    ])
    def test_bad_coordinator_is_refused(self, tmp_path, bad):
        """A coordinator that is not HOST:PORT raises, naming it."""
        with pytest.raises(ConsortiumError, match="coordinator"):
            init_consortium(tmp_path / "c", ["a", "b"], coordinator=bad)

    @pytest.mark.parametrize("given, stored", [
        ("[::1]:50051", "[::1]:50051"),
        ("[0:0::1]:443", "[::1]:443"),
        ("Coord.Example.org:443", "coord.example.org:443"),
        ("10.0.0.7:50051", "10.0.0.7:50051"),
    ])
    def test_coordinator_is_normalised(self, tmp_path, given, stored):
        """The coordinator address is stored in one canonical spelling."""
        consortium = init_consortium(tmp_path / "c", ["a", "b"],
                                     coordinator=given)

        assert consortium.coordinator == stored

    def test_errors_are_value_errors(self, tmp_path):
        """Argument errors are ValueErrors too."""
        with pytest.raises(ValueError):
            init_consortium(tmp_path / "c", ["A", "b"])


class TestExisting:
    def test_existing_directory_is_refused_and_untouched(self, tmp_path):
        """Without force, an existing DIR raises and is left as it was."""
        directory = tmp_path / "c"
        directory.mkdir()
        (directory / "keep").write_text("x")

        with pytest.raises(ConsortiumError, match="already exists"):
            init_consortium(directory, ["a", "b"])
        assert relative_files(directory) == {"keep"}

    def test_file_in_place_of_directory_is_refused(self, tmp_path):
        """Even with force, a plain file at DIR raises."""
        path = tmp_path / "c"
        path.write_text("x")

        with pytest.raises(ConsortiumError, match="not a directory"):
            init_consortium(path, ["a", "b"], force=True)

    def test_force_keeps_ca_and_reissues_the_rest(self, fresh):
        """With force, ca.key and ca.crt stay byte-identical."""
        ca_key = (fresh / "ca" / "ca.key").read_bytes()
        ca_crt = (fresh / "ca" / "ca.crt").read_bytes()
        old_lab_key = (fresh / "labs/alpha/tls.key").read_bytes()
        old_id = load_consortium_file(fresh / "consortium.toml")

        new = init_consortium(fresh, ["alpha", "delta"], force=True)

        assert (fresh / "ca" / "ca.key").read_bytes() == ca_key
        assert (fresh / "ca" / "ca.crt").read_bytes() == ca_crt
        assert (fresh / "labs/alpha/tls.key").read_bytes() != old_lab_key
        assert new.consortium_id != old_id.consortium_id
        assert load_lab(fresh / "labs" / "delta").name == "delta"
        assert (fresh / "labs/delta/ca.crt").read_bytes() == ca_crt

    def test_force_without_ca_makes_one(self, tmp_path):
        """With force on a directory without a CA, a new CA is made."""
        directory = tmp_path / "c"
        directory.mkdir()

        init_consortium(directory, ["a", "b"], force=True)

        assert mode(directory / "ca" / "ca.key") == 0o600
        assert load_lab(directory / "labs" / "a").name == "a"

    def test_force_with_ca_key_but_no_cert_is_refused(self, fresh):
        """A CA key without its certificate raises and stays."""
        ca_key = (fresh / "ca" / "ca.key").read_bytes()
        (fresh / "ca" / "ca.crt").unlink()

        with pytest.raises(ConsortiumError, match="ca.crt"):
            init_consortium(fresh, LABS, force=True)
        assert (fresh / "ca" / "ca.key").read_bytes() == ca_key

    def test_force_with_unreadable_ca_key_is_refused(self, fresh):
        """A corrupt CA key raises, naming the CA directory, and stays."""
        (fresh / "ca" / "ca.key").write_bytes(b"not a key")

        with pytest.raises(ConsortiumError, match=r"ca: the CA key"):
            init_consortium(fresh, LABS, force=True)
        assert (fresh / "ca" / "ca.key").read_bytes() == b"not a key"

    def test_force_with_foreign_ca_cert_is_refused(self, fresh, tmp_path):
        """A ca.crt that does not match ca.key raises."""
        _, other_crt = pki.make_ca()
        (fresh / "ca" / "ca.crt").write_bytes(other_crt)

        with pytest.raises(ConsortiumError, match="does not match"):
            init_consortium(fresh, LABS, force=True)


def assert_p256_sha256(certificate: x509.Certificate) -> None:
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(certificate.public_key().curve, ec.SECP256R1)
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)


def common_name(certificate: x509.Certificate) -> str:
    attrs = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value


class TestCertificates:
    def test_ca_is_a_self_signed_p256_ca(self, made):
        """The CA is self-signed, CA:true, certSign only, for 365 days."""
        directory, _ = made
        ca = cert(directory / "ca" / "ca.crt")
        usage = ext(ca, x509.KeyUsage)

        ca.verify_directly_issued_by(ca)
        assert_p256_sha256(ca)
        assert ext(ca, x509.BasicConstraints).value.ca
        assert ext(ca, x509.BasicConstraints).critical
        assert usage.value.key_cert_sign and not usage.value.digital_signature
        lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
        assert lifetime == pki.CA_LIFETIME == datetime.timedelta(days=365)

    def test_lab_cert_names_the_lab_for_client_auth(self, made):
        """A lab leaf: CN and URI SANs name the lab and its pinned signing
        key, EKU clientAuth only."""
        directory, consortium = made
        ca = cert(directory / "ca" / "ca.crt")

        for lab in LABS:
            leaf = cert(directory / "labs" / lab / "tls.crt")
            leaf.verify_directly_issued_by(ca)
            assert_p256_sha256(leaf)
            assert common_name(leaf) == lab
            san = ext(leaf, x509.SubjectAlternativeName).value
            signing_hex = consortium.labs[lab].signing_key.hex()
            assert list(san) == [
                x509.UniformResourceIdentifier(f"urn:labmatch:lab:{lab}"),
                x509.UniformResourceIdentifier(
                    f"urn:labmatch:signing-key:ed25519:{signing_hex}")]
            assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [
                ExtendedKeyUsageOID.CLIENT_AUTH]
            assert not ext(leaf, x509.BasicConstraints).value.ca

    def test_coordinator_cert_is_server_auth_with_sans(self, made):
        """The coordinator leaf: fixed CN, serverAuth only, local SANs."""
        directory, _ = made
        leaf = cert(directory / "coordinator" / "tls.crt")
        san = ext(leaf, x509.SubjectAlternativeName).value

        leaf.verify_directly_issued_by(cert(directory / "ca" / "ca.crt"))
        assert_p256_sha256(leaf)
        assert common_name(leaf) == "labmatch coordinator"
        assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [
            ExtendedKeyUsageOID.SERVER_AUTH]
        assert san.get_values_for_type(x509.DNSName) == [
            "localhost", "coord.example.org"]
        assert san.get_values_for_type(x509.IPAddress) == [
            ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]

    @pytest.mark.parametrize("coordinator, address", [
        ("10.9.8.7:1", "10.9.8.7"), ("[fd00::5]:1", "fd00::5"),
    ])
    def test_coordinator_ip_host_becomes_ip_san(self, tmp_path,
                                                coordinator, address):
        """An IP coordinator host is an IP SAN, not a DNS name."""
        init_consortium(tmp_path / "c", ["a", "b"], coordinator=coordinator)
        leaf = cert(tmp_path / "c" / "coordinator" / "tls.crt")
        san = ext(leaf, x509.SubjectAlternativeName).value

        assert ipaddress.ip_address(address) in san.get_values_for_type(
            x509.IPAddress)
        assert san.get_values_for_type(x509.DNSName) == ["localhost"]

    def test_leaves_last_thirty_days(self, made):
        """Lab and coordinator certificates are valid for 30 days."""
        directory, _ = made
        leaves = [directory / "coordinator" / "tls.crt",
                  *directory.glob("labs/*/tls.crt")]

        for path in leaves:
            leaf = cert(path)
            lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
            assert lifetime == pki.CERT_LIFETIME
        assert pki.CERT_LIFETIME == datetime.timedelta(days=30)

    def test_path_validation_accepts_both_roles(self, made):
        """A path validator accepts the lab as client, coordinator as
        server for localhost and 127.0.0.1."""
        directory, _ = made
        ca = cert(directory / "ca" / "ca.crt")
        builder = PolicyBuilder().store(Store([ca]))
        lab = cert(directory / "labs" / "alpha" / "tls.crt")
        server = cert(directory / "coordinator" / "tls.crt")

        builder.build_client_verifier().verify(lab, [])
        for name in (x509.DNSName("localhost"),
                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))):
            builder.build_server_verifier(name).verify(server, [])

    def test_mutual_tls_handshake_succeeds(self, made):
        """OpenSSL completes mutual TLS between a lab and coordinator."""
        directory, _ = made

        peer = handshake(directory / "coordinator",
                         directory / "labs" / "beta")

        assert ("URI", "urn:labmatch:lab:beta") in peer["subjectAltName"]

    def test_lab_cert_cannot_serve(self, made):
        """A lab certificate is refused as a server certificate."""
        directory, _ = made
        lab = directory / "labs" / "alpha"

        with pytest.raises(ssl.SSLError):
            handshake(lab, directory / "labs" / "beta")

    def test_coordinator_cert_cannot_be_a_client(self, made):
        """The coordinator certificate is refused as a client."""
        directory, _ = made
        server = directory / "coordinator"

        with pytest.raises(ssl.SSLError):
            handshake(server, server)

    def test_lab_name_from_cert_reads_the_uri(self, made):
        """lab_name_from_cert returns the name in the URI SAN."""
        directory, _ = made
        pem = (directory / "labs" / "gamma" / "tls.crt").read_bytes()

        assert pki.lab_name_from_cert(pem) == "gamma"

    def test_lab_name_from_cert_without_uri_raises(self, made):
        """A certificate without a lab URI raises ValueError."""
        directory, _ = made
        pem = (directory / "coordinator" / "tls.crt").read_bytes()

        with pytest.raises(ValueError, match="urn:labmatch:lab:"):
            pki.lab_name_from_cert(pem)

    def test_leaf_never_outlives_its_ca(self):
        """A leaf issued near the CA's end stops when the CA does."""
        start = datetime.datetime(2030, 1, 1, tzinfo=UTC)
        ca = pki.load_ca(*pki.make_ca(now=start))
        late = start + pki.CA_LIFETIME - datetime.timedelta(days=3)

        _, pem = ca.issue_lab("alpha", now=late)

        leaf = x509.load_pem_x509_certificate(pem)
        assert leaf.not_valid_after_utc == ca.cert.not_valid_after_utc

    def test_expired_ca_issues_nothing(self):
        """Issuing after the CA has expired raises."""
        start = datetime.datetime(2030, 1, 1, tzinfo=UTC)
        ca = pki.load_ca(*pki.make_ca(now=start))

        with pytest.raises(ConsortiumError, match="expired"):
            ca.issue_coordinator([], now=start + pki.CA_LIFETIME)

    def test_load_ca_rejects_a_key_from_another_ca(self):
        """load_ca raises when key and certificate do not belong."""
        key_a, _ = pki.make_ca()
        _, cert_b = pki.make_ca()

        with pytest.raises(ConsortiumError, match="does not match"):
            pki.load_ca(key_a, cert_b)

    def test_load_ca_rejects_a_leaf(self, made):
        """load_ca refuses a certificate that is not a CA."""
        directory, _ = made
        lab = directory / "labs" / "alpha"

        with pytest.raises(ConsortiumError, match="not a CA"):
            pki.load_ca((lab / "tls.key").read_bytes(),
                        (lab / "tls.crt").read_bytes())

    def test_ca_repr_shows_no_key(self):
        """The CA's repr names its subject only."""
        ca = pki.load_ca(*pki.make_ca())

        assert "PRIVATE" not in repr(ca)
        assert "development CA" in repr(ca)


def handshake(server_dir: Path, client_dir: Path) -> dict:
    """Run TLS in memory; return the client certificate the server saw."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server_dir / "tls.crt", server_dir / "tls.key")
    server_ctx.load_verify_locations(server_dir / "ca.crt")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_cert_chain(client_dir / "tls.crt", client_dir / "tls.key")
    client_ctx.load_verify_locations(client_dir / "ca.crt")

    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {client: False, server: False}
    for _ in range(10):
        for side in (client, server):
            done[side] = done[side] or _step(side)
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break

    assert all(done.values())
    return server.getpeercert()


def _step(side: ssl.SSLObject) -> bool:
    try:
        side.do_handshake()
    except ssl.SSLWantReadError:
        return False
    return True


class TestLoadLab:
    def test_round_trip(self, made):
        """load_lab returns the name, keys and files init wrote."""
        directory, consortium = made
        lab_dir = directory / "labs" / "beta"

        creds = load_lab(lab_dir)

        assert creds.name == "beta"
        assert creds.directory == lab_dir
        assert creds.consortium == consortium
        assert creds.tls_key == (lab_dir / "tls.key").read_bytes()
        assert creds.tls_cert == (lab_dir / "tls.crt").read_bytes()
        assert creds.ca_cert == (directory / "ca" / "ca.crt").read_bytes()
        assert bytes(creds.signing_key.verify_key) \
            == consortium.labs["beta"].signing_key
        assert bytes(creds.sealing_key.public_key) \
            == consortium.labs["beta"].sealing_key

    def test_moved_lab_directory_still_loads(self, fresh, tmp_path):
        """A lab directory moved elsewhere alone is self-contained."""
        target = tmp_path / "elsewhere" / "my-lab"
        target.parent.mkdir()
        shutil.move(fresh / "labs" / "gamma", target)
        shutil.rmtree(fresh)

        assert load_lab(target).name == "gamma"

    @pytest.mark.parametrize("field, filename", [
        ("signing_key", "signing.key"), ("sealing_key", "sealing.key"),
    ])
    def test_altered_pinned_key_is_detected(self, fresh, field, filename):
        """A pinned key changed in consortium.toml raises, naming files."""
        lab_dir = fresh / "labs" / "alpha"
        toml = lab_dir / "consortium.toml"
        pinned = getattr(load_lab(lab_dir).consortium.labs["alpha"], field)
        forged = nacl.signing.SigningKey.generate().verify_key
        toml.write_text(toml.read_text().replace(pinned.hex(),
                                                 bytes(forged).hex()))

        with pytest.raises(ConsortiumError) as err:
            load_lab(lab_dir)
        assert filename in str(err.value)
        assert "consortium.toml" in str(err.value)

    def test_another_labs_signing_key_is_detected(self, fresh):
        """A signing key copied from another lab does not load."""
        lab_dir = fresh / "labs" / "alpha"
        shutil.copy(fresh / "labs/beta/signing.key", lab_dir)

        with pytest.raises(ConsortiumError, match="signing.key"):
            load_lab(lab_dir)

    def test_non_member_certificate_is_refused(self, fresh):
        """A certificate for a lab absent from the definition raises."""
        lab_dir = fresh / "labs" / "gamma"
        toml = lab_dir / "consortium.toml"
        text = toml.read_text()
        toml.write_text(text[:text.index('[labs."gamma"]')])

        with pytest.raises(ConsortiumError, match="not a member"):
            load_lab(lab_dir)

    def test_tls_key_of_another_lab_is_refused(self, fresh):
        """A tls.key that does not match tls.crt raises, naming it."""
        lab_dir = fresh / "labs" / "alpha"
        shutil.copy(fresh / "labs/beta/tls.key", lab_dir)

        with pytest.raises(ConsortiumError, match=r"tls\.key.*not match"):
            load_lab(lab_dir)

    def test_certificate_from_another_ca_is_refused(self, fresh, tmp_path):
        """A tls.crt not issued by ca.crt raises, naming tls.crt."""
        lab_dir = fresh / "labs" / "alpha"
        shutil.copy(pki_ca_crt(tmp_path), lab_dir / "ca.crt")

        with pytest.raises(ConsortiumError, match=r"tls\.crt.*not issued"):
            load_lab(lab_dir)

    @pytest.mark.parametrize("filename", sorted(LAB_FILES))
    def test_missing_file_is_named(self, fresh, filename):
        """Each missing lab file raises an error naming it."""
        lab_dir = fresh / "labs" / "beta"
        (lab_dir / filename).unlink()

        with pytest.raises(ConsortiumError, match=f"{filename}: no such"):
            load_lab(lab_dir)

    def test_malformed_secret_key_is_named_not_shown(self, fresh):
        """A bad signing.key raises naming the file, not its content."""
        lab_dir = fresh / "labs" / "beta"
        (lab_dir / "signing.key").write_text("ab" * 31 + "zz\n")

        with pytest.raises(ConsortiumError, match="signing.key") as err:
            load_lab(lab_dir)
        assert "ab" * 31 not in str(err.value)

    def test_repr_shows_no_key_material(self, made):
        """repr and str show the directory and name, never key hex."""
        directory, _ = made
        creds = load_lab(directory / "labs" / "alpha")
        secrets = [bytes(creds.signing_key).hex(),
                   bytes(creds.sealing_key).hex(),
                   bytes(creds.signing_key.verify_key).hex(),
                   bytes(creds.sealing_key.public_key).hex()]

        for text in (repr(creds), str(creds)):
            assert "alpha" in text and str(creds.directory) in text
            assert "PRIVATE KEY" not in text and "CERTIFICATE" not in text
            assert not [s for s in secrets if s in text.lower()]

    def test_credentials_are_frozen(self, made):
        """LabCredentials cannot be altered after loading."""
        directory, _ = made
        creds = load_lab(directory / "labs" / "alpha")

        with pytest.raises(AttributeError):
            creds.name = "beta"
        assert isinstance(creds, LabCredentials)


def pki_ca_crt(tmp_path: Path) -> Path:
    path = tmp_path / "foreign-ca.crt"
    path.write_bytes(pki.make_ca()[1])
    return path


class TestConsortiumFile:
    def test_missing_file_is_named(self, tmp_path):
        """Reading a missing definition raises, naming the path."""
        path = tmp_path / "nope.toml"

        with pytest.raises(ConsortiumError, match="nope.toml: no such"):
            load_consortium_file(path)

    def test_malformed_file_is_named(self, tmp_path):
        """A definition that is not TOML raises, naming the path."""
        path = tmp_path / "bad.toml"
        path.write_text("version = [")

        with pytest.raises(ConsortiumError, match="bad.toml: not valid"):
            load_consortium_file(path)

    def test_non_utf8_file_is_named(self, tmp_path):
        """A definition that is not UTF-8 raises, naming the path."""
        path = tmp_path / "bin.toml"
        path.write_bytes(b"\xff\xfe")

        with pytest.raises(ConsortiumError, match="bin.toml: not UTF-8"):
            load_consortium_file(path)


@pytest.fixture
def umask():
    """Set a umask for one test, then restore the old one."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


class TestFiles:
    def test_private_file_is_0600_whatever_the_umask(self, tmp_path, umask):
        """write_private gives 0600 even under umask 000."""
        umask(0)
        path = tmp_path / "k"

        write_private(path, b"secret")

        assert mode(path) == 0o600 and path.read_bytes() == b"secret"

    def test_public_file_is_0644_whatever_the_umask(self, tmp_path, umask):
        """write_public gives 0644 even under umask 077."""
        umask(0o077)
        path = tmp_path / "c"

        write_public(path, b"cert")

        assert mode(path) == 0o644

    def test_overwrite_replaces_and_leaves_no_temporary(self, tmp_path):
        """A second write replaces the content and leaves one file."""
        path = tmp_path / "k"
        write_private(path, b"one")

        write_private(path, b"two")

        assert path.read_bytes() == b"two"
        assert [p.name for p in tmp_path.iterdir()] == ["k"]

    def test_exclusive_write_never_replaces(self, tmp_path):
        """exclusive=True raises on an existing file and keeps it."""
        path = tmp_path / "ca.key"
        write_private(path, b"first")

        with pytest.raises(FileExistsError):
            write_private(path, b"second", exclusive=True)
        assert path.read_bytes() == b"first"
        assert [p.name for p in tmp_path.iterdir()] == ["ca.key"]

    def test_private_dir_modes(self, tmp_path, umask):
        """make_private_dir makes new levels 0700, leaves old ones."""
        umask(0)
        tmp_path.chmod(0o755)
        target = tmp_path / "a" / "b"

        make_private_dir(target)
        make_private_dir(target)

        assert mode(tmp_path) == 0o755
        assert mode(tmp_path / "a") == mode(target) == 0o700

    def test_private_dir_over_a_file_raises(self, tmp_path):
        """make_private_dir refuses a path that is a file."""
        path = tmp_path / "f"
        path.write_text("x")

        with pytest.raises(NotADirectoryError):
            make_private_dir(path)
