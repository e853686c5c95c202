"""Evaluation budgets (labmatch.psi.budgets) and the consortium's
``budgets`` field (labmatch.psi.consortium; protocol.md 10.1).

Defaults: cell kinds 2^18 items per peer per epoch, every other kind
2^22. Overrides come from a ``[budgets]`` TOML table, round-trip through
Consortium.to_toml/from_toml, and are refused with ConsortiumError when
they are not integers, not positive or over the upload cap.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labmatch.psi import budgets
from labmatch.psi.consortium import Consortium, LabKeys
from labmatch.psi.errors import ConsortiumError
from labmatch.psi.identifiers import INPUT_KINDS, match_kinds
from labmatch.psi.manifest import MAX_UPLOAD_ELEMENTS

ALL_KINDS = list(match_kinds(INPUT_KINDS))
CELL_KINDS = [k for k in ALL_KINDS if ".cell" in k]
OTHER_KINDS = [k for k in ALL_KINDS if ".cell" not in k]
CID = "0123456789abcdef"
KEYS = LabKeys(bytes(range(32)), bytes(range(32, 64)))
LABS = {"lab-a": KEYS, "lab-b": LabKeys(bytes(32), bytes([1]) * 32)}


def consortium(table: dict | None = None, **budget_table) -> Consortium:
    """Every input kind enabled, so any match kind may carry a budget."""
    return Consortium(consortium_id=CID, coordinator="127.0.0.1:7443",
                      kinds=INPUT_KINDS, labs=LABS,
                      budgets={**(table or {}), **budget_table})


def toml_with(budgets_block: str) -> str:
    """A valid consortium file whose [budgets] table is ``budgets_block``."""
    text = consortium().to_toml()
    head, sep, labs = text.partition("\n[labs.")
    return head + "\n[budgets]\n" + budgets_block + "\n" + sep + labs


class TestDefaults:
    def test_default_constants(self):
        """The default budget is 2^22 and each listed cell kind gets 2^18."""
        assert budgets.DEFAULT_BUDGET == 1 << 22
        assert set(budgets.DEFAULT_BUDGETS.values()) == {1 << 18}

    def test_registry_has_cell_kinds(self):
        """The identifier registry yields all three IP cell kinds."""
        assert set(CELL_KINDS) == {"ip4.cell24.c1", "ip6.cell48.c1",
                                   "ip6.cell64.c1"}

    @pytest.mark.parametrize("kind", CELL_KINDS)
    def test_budget_for_cell_kind_default_two_pow_18(self, kind):
        """Every cell kind defaults to 2^18 items per peer per epoch."""
        assert budgets.budget_for(kind) == 1 << 18

    @pytest.mark.parametrize("kind", OTHER_KINDS)
    def test_budget_for_other_kind_default_two_pow_22(self, kind):
        """Every non-cell kind defaults to 2^22 items per peer per epoch."""
        assert budgets.budget_for(kind) == 1 << 22

    def test_budget_for_unknown_kind_default_budget(self):
        """A kind nobody lists gets the general default."""
        assert budgets.budget_for("future.kind.c9") == 1 << 22

    @pytest.mark.parametrize("overrides", [None, {}])
    def test_budget_for_no_overrides_uses_defaults(self, overrides):
        """None and an empty mapping both mean the defaults."""
        assert budgets.budget_for("ip4.cell24.c1", overrides) == 1 << 18

    def test_defaults_within_upload_cap(self):
        """Every default fits under the per-upload element cap."""
        assert budgets.DEFAULT_BUDGET <= MAX_UPLOAD_ELEMENTS
        assert max(budgets.DEFAULT_BUDGETS.values()) <= MAX_UPLOAD_ELEMENTS

    @pytest.mark.parametrize("kind", ALL_KINDS)
    def test_consortium_budget_without_table_is_default(self, kind):
        """A consortium with no [budgets] table answers the defaults."""
        assert consortium().budget(kind) == budgets.budget_for(kind)


class TestBudgetForOverrides:
    def test_budget_for_override_replaces_cell_default(self):
        """An override for a cell kind replaces its 2^18 default."""
        assert budgets.budget_for("ip4.cell24.c1",
                                  {"ip4.cell24.c1": 1000}) == 1000

    def test_budget_for_override_of_other_kind_leaves_default(self):
        """An override for one kind does not touch another kind."""
        over = {"ip4.addr.c1": 5}
        assert budgets.budget_for("ip4.cell24.c1", over) == 1 << 18
        assert budgets.budget_for("domain.name.c1", over) == 1 << 22

    @pytest.mark.parametrize("value", [1, MAX_UPLOAD_ELEMENTS])
    def test_budget_for_bounds_accepted(self, value):
        """1 and the upload cap are the smallest and largest budgets."""
        assert budgets.budget_for("domain.name.c1", {"domain.name.c1": value}) == value

    @pytest.mark.parametrize("value", [0, -1, MAX_UPLOAD_ELEMENTS + 1,
                                       1 << 40])
    def test_budget_for_out_of_range_value_error(self, value):
        """Zero, negative and over-cap budgets are ValueErrors."""
        with pytest.raises(ValueError, match="must be 1"):
            budgets.budget_for("domain.name.c1", {"domain.name.c1": value})

    def test_budget_for_does_not_mutate_overrides(self):
        """Looking up a budget leaves the caller's mapping unchanged."""
        over = {"domain.name.c1": 7}
        budgets.budget_for("other", over)
        budgets.budget_for("domain.name.c1", over)
        assert over == {"domain.name.c1": 7}


class TestBudgetKinds:
    @pytest.mark.parametrize("kind", ["x.y.c1", "weird kind \"q\"",
                                      "ü.c1", "org.name.c1"])
    def test_budget_for_kind_not_enabled_refused(self, kind):
        """A budget for a kind the consortium does not match is refused,
        so a misspelt kind cannot silently leave the default in place."""
        with pytest.raises(ConsortiumError, match="not a match kind"):
            Consortium(consortium_id=CID, coordinator="127.0.0.1:7443",
                       kinds=("ip", "domain"), labs=LABS,
                       budgets={kind: 10})


class TestConsortiumBudgets:
    def test_consortium_override_budget_answered(self):
        """Consortium.budget answers an override and defaults elsewhere."""
        c = consortium(**{"ip4.cell24.c1": 4096})
        assert c.budget("ip4.cell24.c1") == 4096
        assert c.budget("ip6.cell64.c1") == 1 << 18
        assert c.budget("ip4.addr.c1") == 1 << 22

    @pytest.mark.parametrize("value", [1, 1000, 1 << 18, MAX_UPLOAD_ELEMENTS])
    def test_consortium_valid_budget_accepted(self, value):
        """Integers in 1..cap are accepted."""
        assert consortium({"domain.name.c1": value}).budget("domain.name.c1") == value

    @pytest.mark.parametrize("value", [1.0, 1.5, "100", None, True, False,
                                       [1], 2.0 ** 20])
    def test_consortium_non_integer_budget_consortium_error(self, value):
        """Floats, strings, None, booleans and lists are refused."""
        with pytest.raises(ConsortiumError, match="integer"):
            consortium({"domain.name.c1": value})

    @pytest.mark.parametrize("value", [0, -1, -(1 << 18),
                                       MAX_UPLOAD_ELEMENTS + 1, 1 << 63])
    def test_consortium_out_of_range_budget_consortium_error(self, value):
        """Zero, negative and over-cap budgets are refused."""
        with pytest.raises(ConsortiumError, match="must be 1"):
            consortium({"domain.name.c1": value})

    def test_consortium_one_bad_budget_among_good_refused(self):
        """One bad value refuses the whole definition."""
        with pytest.raises(ConsortiumError):
            consortium(**{"ip4.addr.c1": 10, "ip4.cell24.c1": 0})

    def test_consortium_budget_error_names_kind(self):
        """The refusal names the kind whose budget is wrong."""
        with pytest.raises(ConsortiumError, match="ip6.cell48.c1"):
            consortium(**{"ip6.cell48.c1": MAX_UPLOAD_ELEMENTS + 1})


class TestBudgetsToml:
    def test_to_toml_no_budgets_has_no_table(self):
        """A definition without overrides writes no [budgets] table."""
        assert "[budgets]" not in consortium().to_toml()

    def test_to_toml_from_toml_round_trip(self):
        """Overrides survive to_toml then from_toml unchanged."""
        table = {"ip4.cell24.c1": 1 << 16, "ip6.cell64.c1": 1,
                 "domain.name.c1": MAX_UPLOAD_ELEMENTS}
        original = consortium(**table)
        text = original.to_toml()
        assert "[budgets]" in text
        back = Consortium.from_toml(text)
        assert back.budgets == table
        assert back == original
        assert back.to_toml() == text

    @settings(max_examples=50, deadline=None)
    @given(st.dictionaries(
        st.sampled_from(ALL_KINDS),
        st.integers(1, MAX_UPLOAD_ELEMENTS), max_size=6))
    def test_to_toml_from_toml_round_trip_property(self, table):
        """Any valid budget table round-trips (property)."""
        original = consortium(**table)
        back = Consortium.from_toml(original.to_toml())
        assert back.budgets == table
        for kind in ALL_KINDS:
            assert back.budget(kind) == original.budget(kind)

    def test_from_toml_budgets_table_read(self):
        """A hand-written [budgets] table is read as given."""
        text = toml_with('"ip4.cell24.c1" = 65536\n"ip4.addr.c1" = 100')
        c = Consortium.from_toml(text)
        assert c.budgets == {"ip4.cell24.c1": 65536, "ip4.addr.c1": 100}
        assert c.budget("ip4.cell24.c1") == 65536

    def test_from_toml_no_budgets_table_defaults(self):
        """A file without [budgets] gives an empty table and the defaults."""
        c = Consortium.from_toml(consortium().to_toml())
        assert c.budgets == {}
        assert c.budget("ip4.cell24.c1") == 1 << 18

    @pytest.mark.parametrize("line", [
        '"domain.name.c1" = 1.5', '"domain.name.c1" = 1.0', '"domain.name.c1" = "100"', '"domain.name.c1" = true',
        '"domain.name.c1" = [1]', '"domain.name.c1" = {a = 1}', '"domain.name.c1" = 1970-01-01'])
    def test_from_toml_non_integer_budget_consortium_error(self, line):
        """Non-integer TOML budget values are refused."""
        with pytest.raises(ConsortiumError, match="integer"):
            Consortium.from_toml(toml_with(line))

    @pytest.mark.parametrize("value", [
        "0", "-1", str(MAX_UPLOAD_ELEMENTS + 1), "9223372036854775807"])
    def test_from_toml_out_of_range_budget_consortium_error(self, value):
        """Zero, negative and over-cap TOML budgets are refused."""
        with pytest.raises(ConsortiumError, match="must be 1"):
            Consortium.from_toml(toml_with(f'"domain.name.c1" = {value}'))

    @pytest.mark.parametrize("doc_line", ["budgets = 5", 'budgets = "x"',
                                          "budgets = [1, 2]"])
    def test_from_toml_budgets_not_a_table_consortium_error(self, doc_line):
        """A budgets key that is not a table is refused as malformed."""
        text = consortium().to_toml().replace(
            "version = 1", "version = 1\n" + doc_line)
        with pytest.raises(ConsortiumError):
            Consortium.from_toml(text)

    def test_from_toml_budget_error_names_source(self):
        """A refused budget names the file it came from."""
        with pytest.raises(ConsortiumError, match="^consortium.toml: "):
            Consortium.from_toml(toml_with('"domain.name.c1" = 0'),
                                 source="consortium.toml")

    @pytest.mark.parametrize("case", ["wrong-version", "zero-budget"])
    def test_from_toml_error_names_source_once(self, case):
        """A refusal names its source exactly once, at the start."""
        text = {"wrong-version": "version = 2\n",
                "zero-budget": toml_with('"domain.name.c1" = 0')}[case]
        with pytest.raises(ConsortiumError) as info:
            Consortium.from_toml(text, source="consortium.toml")
        assert str(info.value).startswith("consortium.toml: ")
        assert str(info.value).count("consortium.toml") == 1
