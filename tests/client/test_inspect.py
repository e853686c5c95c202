"""The inspect report: counts per kind, refusals, items, examples."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from labmatch.client.inputs import InputFileError
from labmatch.client.inspect import inspect_inputs

MIXED = """kind,value,ref
ip,81.2.69.5,r1
ip,81.2.69.9,r2
IP,::ffff:81.2.69.5,r3
ip,10.0.0.1,r4
cidr,81.2.68.7/22,r5
cidr,81.2.69.0/24,r6
cidr,10.0.0.0/24,r7
org,"ACME, Inc.",r8
org,Acme Incorporated,r9
card-pan,4111 1111 1111 1111,r10
card-pan,4111 1111 1111 1112,r11
phone,+44 20 7946 0000,r12
ip,8.8.8.8,r13,extra
"""


def write(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    return path


def section(report: str, kind: str) -> list[str]:
    """The lines of one kind's section, header included."""
    lines = report.splitlines()
    start = lines.index(f"kind {kind}")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i]),
               len(lines))

    return lines[start:end]


class TestInspect:
    def test_totals(self, tmp_path):
        """The head of the report counts files, rows, blanks, canonical
        and refused rows."""
        path = write(tmp_path, MIXED + "\n")

        report = inspect_inputs([path])

        assert report.splitlines()[:5] == [
            "files: 1", "rows read: 13", "blank lines: 1",
            "rows canonical: 8", "rows refused: 5"]

    def test_ip_section(self, tmp_path):
        """Per kind: rows, canonical, refusals by reason and the distinct
        items per match kind (duplicates and spellings collapse)."""
        report = inspect_inputs([write(tmp_path, MIXED)])

        assert section(report, "ip") == [
            "kind ip", "  rows: 4", "  canonical: 3", "  refused: 1",
            "    reserved-range: 1", "  distinct items: 3",
            "    ip4.addr.c1: 2", "    ip4.cell24.c1: 1",
            "  examples: not shown"]

    def test_cidr_section_counts_host_bits(self, tmp_path):
        """The cidr section says how many ranges had host bits masked and
        counts cells shared by two ranges once."""
        report = inspect_inputs([write(tmp_path, MIXED)])

        assert section(report, "cidr") == [
            "kind cidr", "  rows: 3", "  canonical: 2", "  refused: 1",
            "    reserved-range: 1", "  host bits masked: 1",
            "  distinct items: 4", "    ip4.cell24.c1: 4",
            "  examples: not shown"]

    def test_rows_without_usable_kind(self, tmp_path):
        """Unsupported kinds and unreadable rows are counted apart, by
        reason, without repeating what was in the kind column."""
        report = inspect_inputs([write(tmp_path, MIXED)])

        assert report.splitlines()[-3:] == [
            "rows without a usable kind: 2", "  kind-not-supported: 1",
            "  malformed-row: 1"]
        assert "phone" not in report

    def test_no_values_by_default(self, tmp_path):
        """Without show_values the report holds counts only."""
        report = inspect_inputs([write(tmp_path, MIXED)])

        for value in ("81.2.69", "acme", "ACME", "4111", "7946"):
            assert value not in report

    def test_show_values_gives_canonical_examples(self, tmp_path):
        """With show_values, up to `examples` distinct canonical values
        per kind are listed in input order."""
        report = inspect_inputs([write(tmp_path, MIXED)], show_values=True,
                                examples=2)

        assert section(report, "ip")[-3:] == [
            "  examples:", "    81.2.69.5", "    81.2.69.9"]
        assert section(report, "cidr")[-3:] == [
            "  examples:", "    81.2.68.0/22", "    81.2.69.0/24"]
        assert section(report, "org")[-2:] == ["  examples:", "    acme"]

    def test_card_pan_never_shown(self, tmp_path):
        """Card numbers are never shown, not even with show_values."""
        report = inspect_inputs([write(tmp_path, MIXED)], show_values=True)

        assert section(report, "card-pan") == [
            "kind card-pan", "  rows: 2", "  canonical: 1", "  refused: 1",
            "    invalid-pan: 1", "  distinct items: 1",
            "    card.pan.c1: 1", "  examples: never shown for card-pan"]
        assert "4111" not in report and "1111" not in report

    def test_examples_zero_lists_none(self, tmp_path):
        """examples=0 shows the heading and no value."""
        report = inspect_inputs([write(tmp_path, MIXED)], show_values=True,
                                examples=0)

        assert section(report, "ip")[-1] == "  examples:"
        assert "81.2.69" not in report

    def test_several_files_and_json_lines(self, tmp_path):
        """CSV and JSON Lines files are inspected together; kinds appear
        in the order of INPUT_KINDS."""
        csv_path = write(tmp_path, "kind,value\nwallet,"
                         "0x4F47Bc496083C727c5fbe3CE9CDf2B0f6496270c\n")
        lines = [{"kind": "email", "value": "Bob@Example.COM"},
                 {"kind": "wallet", "value": 7},
                 {"kind": "domain", "value": "example.com."}]
        jsonl_path = write(tmp_path, "".join(
            json.dumps(line) + "\n" for line in lines), "in.jsonl")

        report = inspect_inputs([csv_path, jsonl_path], show_values=True)

        kinds = [line for line in report.splitlines()
                 if line.startswith("kind ")]
        assert report.startswith("files: 2\nrows read: 4\n")
        assert kinds == ["kind domain", "kind email", "kind wallet"]
        assert section(report, "email")[-1] == "    Bob@example.com"
        assert "  non-string-field: 1" in report

    def test_missing_file_raises(self, tmp_path):
        """A file that cannot be used raises, as for a sync."""
        with pytest.raises(InputFileError):
            inspect_inputs([tmp_path / "missing.csv"])
