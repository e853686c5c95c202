"""Canonicalisation v1 of the ip, domain and wallet input kinds."""
from __future__ import annotations

import ipaddress
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labmatch.psi.encoding import ip_message, text_message
from labmatch.psi.errors import IdentifierRefused
from labmatch.psi.identifiers import (
    INPUT_KINDS,
    MAX_VALUE_CHARS,
    MatchItem,
    canonical_text,
    canonicalise,
    match_kinds,
)

# Public test vectors: BIP 173 / BIP 350 segwit addresses and the
# Bitcoin genesis block's pay-to address.
BECH32_V0 = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
BECH32_V0_TESTNET = (
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7")
BECH32M_V1 = (
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k"
    "t5nd6y")
GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
EVM = "0x4f47bc496083c727c5fbe3ce9cdf2b0f6496270c"


def refusal(kind: str, value: str) -> IdentifierRefused:
    with pytest.raises(IdentifierRefused) as info:
        canonicalise(kind, value)

    return info.value


def only_item(kind: str, value: str) -> MatchItem:
    items = canonicalise(kind, value)
    assert len(items) == 1

    return items[0]


class TestKinds:
    def test_input_kinds_are_the_three_implemented(self):
        """ip, domain and wallet are the input kinds of this version."""
        assert INPUT_KINDS == ("ip", "domain", "wallet")

    def test_match_kinds_per_input_kind(self):
        """Each input kind names the match kinds it can emit."""
        assert match_kinds(["ip"]) == ("ip4.addr.c1", "ip6.addr.c1")
        assert match_kinds(["domain"]) == ("domain.name.c1",)
        assert match_kinds(["wallet"]) == ("wallet.addr.c1",)

    def test_match_kinds_sorted_and_deduplicated(self):
        """Several input kinds give one sorted tuple without repeats."""
        got = match_kinds(["wallet", "IP", "ip", "domain"])

        assert got == ("domain.name.c1", "ip4.addr.c1", "ip6.addr.c1",
                       "wallet.addr.c1")

    @pytest.mark.parametrize("kind", ["email", "card", "cidr", ""])
    def test_unknown_kind_refused(self, kind):
        """A kind not implemented yet is refused as kind-not-supported."""
        error = refusal(kind, "value")

        assert error.reason == "kind-not-supported"
        assert str(error) == "kind not supported yet"

    def test_match_kinds_unknown_kind_refused(self):
        """match_kinds refuses an unknown kind the same way."""
        with pytest.raises(IdentifierRefused) as info:
            match_kinds(["ip", "org"])

        assert info.value.reason == "kind-not-supported"

    @pytest.mark.parametrize("kind", ["IP", "Domain", " wallet "])
    def test_kind_case_and_spaces_folded(self, kind):
        """The input kind is matched without regard to case or spaces."""
        value = {"ip": "81.2.69.5", "domain": "example.com",
                 "wallet": EVM}[kind.strip().lower()]

        assert canonicalise(kind, value) == canonicalise(
            kind.strip().lower(), value)

    @pytest.mark.parametrize("kind", INPUT_KINDS)
    @pytest.mark.parametrize("value", ["", "   ", "\t\r\n"])
    def test_empty_value_refused(self, kind, value):
        """An empty or all-whitespace value is refused as empty-value."""
        assert refusal(kind, value).reason == "empty-value"

    @pytest.mark.parametrize("kind", INPUT_KINDS)
    def test_overlong_value_refused(self, kind):
        """A value over MAX_VALUE_CHARS is refused before any parsing."""
        value = "a" * (MAX_VALUE_CHARS + 1)

        assert refusal(kind, value).reason == "value-too-long"

    def test_item_repr_hides_message(self):
        """A MatchItem's repr names its kind and never its message."""
        item = only_item("domain", "example.com")

        assert "example" not in repr(item)
        assert "domain.name.c1" in repr(item)


class TestIp:
    def test_ipv4_message(self):
        """An IPv4 address is hashed as family 4, prefix 32, 4 bytes."""
        item = only_item("ip", "81.2.69.5")

        assert item == MatchItem(
            "ip4.addr.c1", ip_message(4, 32, bytes([81, 2, 69, 5])),
            "exact")

    def test_ipv6_message(self):
        """An IPv6 address is hashed as family 6, prefix 128, 16 bytes."""
        item = only_item("ip", "2001:470:1:908::9001")
        packed = ipaddress.IPv6Address("2001:470:1:908::9001").packed

        assert item == MatchItem(
            "ip6.addr.c1", ip_message(6, 128, packed), "exact")

    def test_ipv6_expanded_equals_compressed(self):
        """Fully expanded IPv6 (as in the Tor lists) equals compressed."""
        expanded = "2001:0470:0001:0908:0000:0000:0000:9001"

        assert canonicalise("ip", expanded) == canonicalise(
            "ip", "2001:470:1:908::9001")
        assert canonical_text("ip", expanded) == "2001:470:1:908::9001"

    def test_ipv6_upper_case_folded(self):
        """Upper-case hex digits give the same item as lower case."""
        assert canonicalise("ip", "2A00:1450::1") == canonicalise(
            "ip", "2a00:1450::1")

    def test_ipv4_mapped_folds_to_ipv4(self):
        """::ffff:a.b.c.d is the IPv4 address a.b.c.d."""
        assert canonicalise("ip", "::ffff:81.2.69.5") == canonicalise(
            "ip", "81.2.69.5")
        assert canonical_text("ip", "::ffff:5102:4505") == "81.2.69.5"

    def test_zone_id_stripped(self):
        """A zone id is dropped from a global IPv6 address."""
        assert canonicalise("ip", "2a00:1450::1%eth0") == canonicalise(
            "ip", "2a00:1450::1")

    def test_surrounding_whitespace_stripped(self):
        """Spaces, tabs and newlines around an address are ignored."""
        assert canonicalise("ip", " \t81.2.69.5\r\n") == canonicalise(
            "ip", "81.2.69.5")

    @pytest.mark.parametrize("value", [
        "10.0.0.1", "172.16.5.4", "192.168.1.1", "192.0.2.5",
        "198.51.100.7", "203.0.113.9", "127.0.0.1", "100.64.0.1",
        "100.127.255.254", "169.254.1.1", "0.0.0.0", "224.0.0.1",
        "239.1.2.3", "240.0.0.1", "255.255.255.255", "198.18.0.1",
        "::1", "::", "fe80::1%eth0", "fe80::1", "fc00::1", "fd12:3456::1",
        "ff02::1", "2001:db8::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1",
    ])
    def test_reserved_ranges_refused(self, value):
        """Private, loopback, link-local, multicast, documentation,
        CGNAT and unspecified addresses are refused as reserved-range."""
        assert refusal("ip", value).reason == "reserved-range"

    @pytest.mark.parametrize("value", ["010.1.1.1", "81.02.69.5",
                                       "81.2.69.005"])
    def test_leading_zero_octet_refused(self, value):
        """An IPv4 octet with a leading zero is refused, not guessed."""
        assert refusal("ip", value).reason == "leading-zero-octet"

    @pytest.mark.parametrize("value", ["81.2.69.0/24", "2001:470::/32",
                                       "81.2.69.5/32"])
    def test_range_refused(self, value):
        """A value with a prefix length is not a single address."""
        assert refusal("ip", value).reason == "not-an-address"

    @pytest.mark.parametrize("value", [
        "81.2.69", "81.2.69.256", "1.2.3.4.5", "example.com", "::g",
        "1.2.3.4%eth0", "2a00:1450::1%", "8 1.2.69.5", "\u0661.2.3.4",
        "1.2.3.4\x00",
    ])
    def test_not_an_ip_refused(self, value):
        """Text that is not an IPv4 or IPv6 address is invalid-ip."""
        assert refusal("ip", value).reason == "invalid-ip"

    @pytest.mark.parametrize("value", ["8.8.8.8", "81.2.69.5",
                                       "2606:4700:4700::1111"])
    def test_public_addresses_accepted(self, value):
        """Public unicast addresses are accepted."""
        assert canonical_text("ip", value) == value

    @given(st.ip_addresses(v=6))
    def test_ipv6_any_spelling_same_item(self, addr):
        """The exploded and compressed spellings of any IPv6 address are
        accepted or refused together, and give the same items."""
        results = []
        for text in (addr.exploded, addr.compressed, addr.exploded.upper()):
            try:
                results.append(canonicalise("ip", text))
            except IdentifierRefused as exc:
                results.append(exc.reason)

        assert results[0] == results[1] == results[2]


class TestDomain:
    def test_case_and_trailing_dot_folded(self):
        """Example.COM. is example.com."""
        assert canonicalise("domain", "Example.COM.") == canonicalise(
            "domain", "example.com")
        assert canonical_text("domain", "Example.COM.") == "example.com"

    def test_message_is_typed_text(self):
        """The message is the text message of the canonical name."""
        item = only_item("domain", "Example.com")

        assert item == MatchItem(
            "domain.name.c1", text_message("example.com"), "exact")

    def test_idn_becomes_a_label(self):
        """An IDN is matched in its lower-case A-label (punycode) form."""
        assert canonical_text("domain", "bücher.example") == (
            "xn--bcher-kva.example")
        assert canonicalise("domain", "BÜCHER.example") == canonicalise(
            "domain", "xn--bcher-kva.example")

    def test_uts46_mapping_applied(self):
        """Full-width letters map to ASCII under UTS-46."""
        assert canonical_text("domain", "ｅｘａｍｐｌｅ.com") == "example.com"

    def test_subdomain_kept(self):
        """Exact matching keeps every label, so a subdomain differs."""
        assert canonicalise("domain", "mail.example.com") != canonicalise(
            "domain", "example.com")

    @pytest.mark.parametrize("value", [
        "com", "localhost", ".", "example..com", "example.com..",
        ".example.com", "-bad.example", "bad-.example", "foo_bar.example",
        "a b.example", "*.example", "example.com/path", "1.2.3.4",
        "x" * 64 + ".example", "xn--zz.example", "exa\x00mple.com",
        "💩.example",
    ])
    def test_invalid_domain_refused(self, value):
        """Malformed names, single labels and numeric TLDs are refused
        as invalid-domain."""
        assert refusal("domain", value).reason == "invalid-domain"


class TestWallet:
    def test_evm_lower_and_upper_are_one_item(self):
        """An EVM address is case-insensitive: lower and upper agree."""
        upper = "0x" + EVM[2:].upper()

        assert canonicalise("wallet", upper) == canonicalise("wallet", EVM)
        assert canonical_text("wallet", upper) == EVM

    def test_evm_mixed_case_folded(self):
        """A mixed-case (EIP-55) EVM address folds to lower case; the
        checksum is not verified (no Keccak available)."""
        mixed = "0x4F47bC496083C727c5fbe3CE9CDf2B0f6496270c"

        assert canonical_text("wallet", mixed) == EVM

    def test_evm_message_is_typed_text(self):
        """The message is the text message of the canonical address."""
        item = only_item("wallet", EVM)

        assert item == MatchItem("wallet.addr.c1", text_message(EVM),
                                 "exact")

    @pytest.mark.parametrize("value", [
        "0x4f47bc496083c727c5fbe3ce9cdf2b0f6496270",
        "0x4f47bc496083c727c5fbe3ce9cdf2b0f6496270c0",
        "0x4f47bc496083c727c5fbe3ce9cdf2b0f6496270g",
        "0x", "0x 4f47bc496083c727c5fbe3ce9cdf2b0f649627",
    ])
    def test_evm_malformed_refused(self, value):
        """An 0x value without exactly 40 hex digits is invalid-wallet."""
        assert refusal("wallet", value).reason == "invalid-wallet"

    @pytest.mark.parametrize("value", [BECH32_V0, BECH32_V0_TESTNET,
                                       BECH32M_V1])
    def test_bech32_valid_accepted(self, value):
        """Valid bech32 (v0) and bech32m (v1) addresses are accepted."""
        assert canonical_text("wallet", value) == value

    def test_bech32_upper_case_folded(self):
        """An all-upper-case bech32 address is the lower-case one."""
        assert canonicalise("wallet", BECH32_V0.upper()) == canonicalise(
            "wallet", BECH32_V0)

    @pytest.mark.parametrize("value", [
        BECH32_V0[:-1] + "5",                       # flipped checksum
        BECH32_V0[:10] + "x" + BECH32_V0[11:],      # flipped data
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",  # v0, bech32m sum
        "Bc1" + BECH32_V0[3:],                      # mixed case
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3tb",  # 'b' not bech32
        "bc1q",                                     # no checksum
        "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",  # hrp changed
    ])
    def test_bech32_invalid_refused(self, value):
        """Bad checksum, wrong variant, mixed case or a bad character
        in a bech32 address is invalid-wallet."""
        assert refusal("wallet", value).reason == "invalid-wallet"

    def test_base58check_valid_case_preserved(self):
        """A valid base58check address is accepted with its case."""
        assert canonical_text("wallet", GENESIS) == GENESIS

    def test_base58_case_matters(self):
        """Base58 is case-sensitive: another case is another address,
        and here it fails the checksum."""
        assert refusal("wallet", GENESIS.lower()).reason == "invalid-wallet"

    @pytest.mark.parametrize("value", [
        GENESIS[:-1] + "b",                 # checksum no longer verifies
        GENESIS[:5] + "0" + GENESIS[6:],    # '0' is not base58
        "3" + GENESIS[1:],                  # changed version byte
    ])
    def test_base58check_invalid_refused(self, value):
        """A base58 address failing the alphabet or checksum is
        invalid-wallet."""
        assert refusal("wallet", value).reason == "invalid-wallet"

    @pytest.mark.parametrize("value", [
        "rEXAMPLEexampleEXAMPLEexample1234",
        "4" + "A" * 94,
        "qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhq",
    ])
    def test_other_chains_opaque_case_preserved(self, value):
        """Other printable addresses of 20-128 chars are kept as given."""
        assert canonical_text("wallet", value) == value

    @pytest.mark.parametrize("value", [
        "short", "a" * 19, "a" * 129, "with space inside the address",
        "nonascii-wälletaddress-123", "tab\tinside-the-address-xx",
    ])
    def test_unrecognised_refused(self, value):
        """Too short, too long, spaces or non-ASCII is invalid-wallet."""
        assert refusal("wallet", value).reason == "invalid-wallet"


REFUSED = [
    ("ip", "10.0.0.1"), ("ip", "010.1.1.1"), ("ip", "81.2.69.0/24"),
    ("ip", "not.an.ip.address"), ("domain", "bad_domain.example"),
    ("domain", "singlelabel"), ("wallet", BECH32_V0[:-1] + "5"),
    ("wallet", GENESIS[:-1] + "b"), ("wallet", "0xnothexnothexnothex"),
    ("card", "4111111111111111"),
]


@pytest.mark.parametrize(("kind", "value"), REFUSED)
def test_refusal_never_names_the_value(kind, value):
    """Neither the reason nor the message of a refusal has the value."""
    error = refusal(kind, value)

    assert value not in str(error)
    assert value not in error.reason
    assert error.__cause__ is None


# Property tests.

LABEL_CHARS = string.ascii_letters + string.digits + "äöüßéñçøå"
labels = st.text(LABEL_CHARS, min_size=1, max_size=12)
domains = st.lists(labels, min_size=2, max_size=4).map(".".join)
evm = st.binary(min_size=20, max_size=20).flatmap(
    lambda raw: st.sampled_from(
        ["0x" + raw.hex(), "0x" + raw.hex().upper()]))
opaque = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E),
    min_size=20, max_size=128)
ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
bech32 = st.sampled_from([BECH32_V0, BECH32_V0.upper(), BECH32M_V1,
                          BECH32_V0_TESTNET])
values = st.one_of(domains, evm, opaque, ips, bech32, st.just(GENESIS),
                   st.text(max_size=40))
VALID_BY_KIND = {
    "ip": ips,
    "domain": domains,
    "wallet": st.one_of(evm, opaque, bech32, st.just(GENESIS)),
}
kind_and_value = st.sampled_from(INPUT_KINDS).flatmap(
    lambda kind: st.tuples(st.just(kind), VALID_BY_KIND[kind]))


@given(kind_and_value)
def test_canonicalise_idempotent(pair):
    """Canonicalising the canonical text again gives the same items."""
    kind, value = pair
    try:
        items = canonicalise(kind, value)
    except IdentifierRefused:
        return

    text = canonical_text(kind, value)

    assert canonical_text(kind, text) == text
    assert canonicalise(kind, text) == items


@given(values)
def test_distinct_kinds_never_collide(value):
    """No (kind, message) pair comes out of two input kinds, even for a
    value several kinds accept."""
    seen: dict[tuple[str, bytes], str] = {}
    for kind in INPUT_KINDS:
        try:
            items = canonicalise(kind, value)
        except IdentifierRefused:
            continue
        for item in items:
            assert seen.setdefault((item.kind, item.message), kind) == kind


def test_match_kinds_disjoint_between_input_kinds():
    """No match kind code is shared by two input kinds."""
    codes = [code for kind in INPUT_KINDS for code in match_kinds([kind])]

    assert len(codes) == len(set(codes))


@st.composite
def value_pairs(draw):
    """A kind, a value of it, and either another value or a respelling
    of the first (case, whitespace) that may canonicalise the same."""
    kind = draw(st.sampled_from(INPUT_KINDS))
    first = draw(VALID_BY_KIND[kind])
    second = draw(st.one_of(
        VALID_BY_KIND[kind],
        st.sampled_from([first, first.upper(), first.lower(),
                         f" {first}\n"])))

    return kind, first, second


@given(value_pairs())
def test_message_equal_iff_canonical_equal(pair):
    """Two values give the same items exactly when their canonical
    texts are equal."""
    kind, first, second = pair
    try:
        a, b = canonicalise(kind, first), canonicalise(kind, second)
    except IdentifierRefused:
        return

    same_text = canonical_text(kind, first) == canonical_text(kind, second)

    assert (a == b) == same_text


@given(st.sampled_from(INPUT_KINDS), st.text(max_size=200))
def test_arbitrary_text_accepted_or_refused(kind, value):
    """Any text either canonicalises to exact items or is refused with
    a reason code; nothing else escapes."""
    try:
        items = canonicalise(kind, value)
    except IdentifierRefused as exc:
        assert exc.reason
        return

    assert items
    assert all(item.level == "exact" for item in items)
