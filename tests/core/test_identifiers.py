"""Canonicalisation v1: the package interface, and the ip, domain and
wallet input kinds (the other kinds: test_identifiers_kinds.py)."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labmatch.psi.encoding import ip_message, text_message
from labmatch.psi.errors import IdentifierRefused
from labmatch.psi.identifiers import (
    INPUT_KINDS,
    LEVEL_EXACT,
    LEVEL_IP4_24,
    LEVEL_IP6_48,
    LEVEL_IP6_64,
    LEVELS,
    MAX_VALUE_CHARS,
    REDACTED_INPUT_KINDS,
    Canonical,
    MatchItem,
    canonical_form,
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
EVM_EIP55 = "0x4F47Bc496083C727c5fbe3CE9CDf2B0f6496270c"
# EIP-55's own examples: all-caps, all-lower and mixed.
EIP55_VECTORS = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
IP_KINDS = ("ip4.addr.c1", "ip4.cell24.c1", "ip6.addr.c1",
            "ip6.cell48.c1", "ip6.cell64.c1")


def refusal(kind: str, value: str) -> IdentifierRefused:
    with pytest.raises(IdentifierRefused) as info:
        canonicalise(kind, value)

    return info.value


def only_item(kind: str, value: str) -> MatchItem:
    items = canonicalise(kind, value)
    assert len(items) == 1

    return items[0]


class TestKinds:
    def test_input_kinds_are_the_eight_implemented(self):
        """The input kinds of this version, every one implemented."""
        assert set(INPUT_KINDS) == {"ip", "cidr", "domain", "email", "org",
                                    "card", "card-pan", "wallet"}
        assert len(INPUT_KINDS) == 8

    @pytest.mark.parametrize(("kind", "codes"), [
        ("ip", IP_KINDS),
        ("cidr", IP_KINDS),
        ("domain", ("domain.name.c1",)),
        ("email", ("email.addr.c1",)),
        ("org", ("org.name.c1",)),
        ("card", ("card.fp.c1",)),
        ("card-pan", ("card.pan.c1",)),
        ("wallet", ("wallet.addr.c1",)),
    ])
    def test_match_kinds_per_input_kind(self, kind, codes):
        """Each input kind names the match kinds it can emit, every one
        carrying its canonicalisation version."""
        assert match_kinds([kind]) == codes
        assert all(code.endswith(".c1") for code in codes)

    def test_match_kinds_sorted_and_deduplicated(self):
        """Several input kinds give one sorted tuple without repeats."""
        got = match_kinds(["wallet", "IP", "ip", "domain", "cidr"])

        assert got == ("domain.name.c1", *IP_KINDS, "wallet.addr.c1")

    def test_levels_ordered_finest_first(self):
        """LEVELS lists exact, then the IPv4 /24, IPv6 /64 and /48 cells."""
        assert LEVELS == (LEVEL_EXACT, LEVEL_IP4_24, LEVEL_IP6_64,
                          LEVEL_IP6_48)
        assert LEVELS == ("exact", "ip4/24", "ip6/64", "ip6/48")

    def test_only_card_pan_redacted(self):
        """card-pan is the one input kind whose value is never output."""
        assert REDACTED_INPUT_KINDS == frozenset({"card-pan"})
        assert REDACTED_INPUT_KINDS <= set(INPUT_KINDS)

    def test_canonical_form_bundles_text_items_notes(self):
        """canonical_form gives the canonical text, the items and the
        notes of one value, and its repr shows neither text nor items."""
        form = canonical_form("ip", "::ffff:81.2.69.5")

        assert form == Canonical("81.2.69.5",
                                 canonicalise("ip", "81.2.69.5"), ())
        assert "81.2" not in repr(form)

    @pytest.mark.parametrize("kind", ["phone", "person", "card_pan",
                                      "ip4", ""])
    def test_unknown_kind_refused(self, kind):
        """A kind not implemented yet is refused as kind-not-supported."""
        error = refusal(kind, "value")

        assert error.reason == "kind-not-supported"
        assert str(error) == "kind not supported yet"

    def test_match_kinds_unknown_kind_refused(self):
        """match_kinds refuses an unknown kind the same way."""
        with pytest.raises(IdentifierRefused) as info:
            match_kinds(["ip", "person"])

        assert info.value.reason == "kind-not-supported"

    @pytest.mark.parametrize("kind", ["IP", "Domain", " wallet ", "CIDR",
                                      "Card-PAN", " Org"])
    def test_kind_case_and_spaces_folded(self, kind):
        """The input kind is matched without regard to case or spaces."""
        value = {"ip": "81.2.69.5", "domain": "example.com",
                 "wallet": EVM, "cidr": "81.2.69.0/24",
                 "card-pan": "4111 1111 1111 1111",
                 "org": "Acme Inc"}[kind.strip().lower()]

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

    @pytest.mark.parametrize("kind", INPUT_KINDS)
    def test_lone_surrogate_refused(self, kind):
        """A value with a lone surrogate (JSON can carry one) is not
        text: refused as invalid-text before any parsing."""
        assert refusal(kind, "acme\ud800.example").reason == "invalid-text"

    def test_item_repr_hides_message(self):
        """A MatchItem's repr names its kind and never its message."""
        item = only_item("domain", "example.com")

        assert "example" not in repr(item)
        assert "domain.name.c1" in repr(item)


class TestIp:
    def test_ipv4_address_and_cell24(self):
        """An IPv4 address emits itself (family 4, prefix 32, exact) and
        its /24 cell (prefix 24, masked bytes, level ip4/24)."""
        items = canonicalise("ip", "81.2.69.5")

        assert items == (
            MatchItem("ip4.addr.c1",
                      ip_message(4, 32, bytes([81, 2, 69, 5])), "exact"),
            MatchItem("ip4.cell24.c1",
                      ip_message(4, 24, bytes([81, 2, 69, 0])), "ip4/24"),
        )

    def test_ipv6_address_and_cells(self):
        """An IPv6 address emits itself (prefix 128, exact), its /64
        and its /48 cell, each with masked bytes and its level."""
        items = canonicalise("ip", "2001:470:1:908::9001")

        def packed(text: str) -> bytes:
            return ipaddress.IPv6Address(text).packed

        assert items == (
            MatchItem("ip6.addr.c1",
                      ip_message(6, 128, packed("2001:470:1:908::9001")),
                      "exact"),
            MatchItem("ip6.cell64.c1",
                      ip_message(6, 64, packed("2001:470:1:908::")),
                      "ip6/64"),
            MatchItem("ip6.cell48.c1",
                      ip_message(6, 48, packed("2001:470:1::")), "ip6/48"),
        )

    def test_same_cell24_not_same_address(self):
        """81.2.69.5 and 81.2.69.9 share their /24 cell only: the match
        is labelled ip4/24, never an address match."""
        shared = set(canonicalise("ip", "81.2.69.5")) & set(
            canonicalise("ip", "81.2.69.9"))

        assert [(i.kind, i.level) for i in shared] == [
            ("ip4.cell24.c1", "ip4/24")]

    def test_neighbouring_cells_share_nothing(self):
        """Addresses in adjacent /24s share no item."""
        assert not set(canonicalise("ip", "81.2.69.255")) & set(
            canonicalise("ip", "81.2.70.0"))

    def test_ipv6_same_48_other_64(self):
        """Two IPv6 addresses in one /48 but different /64s share only
        the /48 cell."""
        shared = set(canonicalise("ip", "2a00:1450:4001:1::5")) & set(
            canonicalise("ip", "2a00:1450:4001:2::5"))

        assert [i.level for i in shared] == ["ip6/48"]

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

    def test_evm_valid_checksum_folded(self):
        """A mixed-case address whose EIP-55 checksum verifies folds to
        lower case: one item with the lower-case spelling."""
        assert canonical_text("wallet", EVM_EIP55) == EVM
        assert canonicalise("wallet", EVM_EIP55) == canonicalise(
            "wallet", EVM)

    @pytest.mark.parametrize("value", EIP55_VECTORS)
    def test_eip55_vectors_accepted(self, value):
        """EIP-55's published examples are accepted and lower-cased."""
        assert canonical_text("wallet", value) == value.lower()

    @pytest.mark.parametrize("value", [
        "0x4F47bC496083C727c5fbe3CE9CDf2B0f6496270c",   # two letters swapped
        "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",   # one letter raised
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",   # last letter raised
    ])
    def test_evm_bad_checksum_refused(self, value):
        """Mixed case that fails the EIP-55 checksum is bad-checksum,
        and the message does not carry the address."""
        error = refusal("wallet", value)

        assert error.reason == "bad-checksum"
        assert value[2:12].lower() not in str(error).lower()

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
    ("wallet", "0x" + EVM_EIP55[2:].swapcase()),
]


@pytest.mark.parametrize(("kind", "value"), REFUSED)
def test_refusal_never_names_the_value(kind, value):
    """Neither the reason nor the message of a refusal has the value."""
    error = refusal(kind, value)

    assert value not in str(error)
    assert value not in error.reason
    assert error.__cause__ is None
