"""Reading lab input files: CSV shape, bad rows, limits, real lists."""
from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from labmatch.client.inputs import (
    MAX_INPUT_ROWS,
    MAX_LINE_BYTES,
    MAX_VALUE_CHARS,
    BadRow,
    InputFileError,
    InputRow,
    ReadReport,
    read_inputs,
)
from labmatch.psi.errors import LabmatchError
from labmatch.psi.identifiers import canonicalise


def write(tmp_path: Path, data: bytes | str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)

    return path


def read_collecting(*paths: Path) -> tuple[list[InputRow], ReadReport,
                                           list[BadRow]]:
    bad: list[BadRow] = []
    rows, report = read_inputs(list(paths), on_bad_row=bad.append)

    return rows, report, bad


class TestShape:
    def test_simple_file(self, tmp_path):
        """Rows come back in order with kind, value, ref, line and items."""
        path = write(tmp_path, "kind,value,ref\n"
                               "ip,81.2.69.5,u1\n"
                               "domain,Example.COM,u2\n")

        rows, report = read_inputs([path])

        assert [(r.line, r.kind, r.value, r.ref) for r in rows] == [
            (2, "ip", "81.2.69.5", "u1"),
            (3, "domain", "Example.COM", "u2"),
        ]
        assert rows[1].items == canonicalise("domain", "example.com")
        assert rows[0].source == str(path)
        assert report == ReadReport(rows_read=2, blank=0)

    def test_bom_and_crlf(self, tmp_path):
        """A UTF-8 BOM and CRLF line ends are accepted."""
        path = write(tmp_path, b"\xef\xbb\xbfkind,value\r\n"
                               b"ip,81.2.69.5\r\n"
                               b"ip,8.8.8.8\r\n")

        rows, report = read_inputs([path])

        assert [r.value for r in rows] == ["81.2.69.5", "8.8.8.8"]
        assert report.skipped == Counter()

    def test_header_case_insensitive_and_spaced(self, tmp_path):
        """Header names match regardless of case and surrounding spaces."""
        path = write(tmp_path, " KIND ,Value,REF\nip,81.2.69.5,x\n")

        rows, _ = read_inputs([path])

        assert (rows[0].kind, rows[0].value, rows[0].ref) == (
            "ip", "81.2.69.5", "x")

    def test_extra_columns_ignored_in_any_order(self, tmp_path):
        """Columns other than kind, value and ref are ignored."""
        path = write(tmp_path, "note,ref,value,seen,kind\n"
                               "hello,r7,81.2.69.5,2024-01-01,ip\n")

        rows, _ = read_inputs([path])

        assert (rows[0].kind, rows[0].value, rows[0].ref) == (
            "ip", "81.2.69.5", "r7")

    def test_missing_ref_is_empty(self, tmp_path):
        """Without a ref column every row's ref is the empty string."""
        path = write(tmp_path, "kind,value\nip,81.2.69.5\n")

        rows, _ = read_inputs([path])

        assert rows[0].ref == ""

    def test_quoted_fields_with_comma_quote_and_newline(self, tmp_path):
        """RFC 4180 quoting: commas, doubled quotes and newlines inside a
        quoted field; the next record's line number stays physical."""
        path = write(tmp_path, 'kind,value,ref\n'
                               'ip,81.2.69.5,"a, ""b""\nc"\n'
                               'ip,8.8.8.8,d\n')

        rows, _ = read_inputs([path])

        assert rows[0].ref == 'a, "b"\nc'
        assert [r.line for r in rows] == [2, 4]

    def test_kind_case_insensitive_and_kept_as_written(self, tmp_path):
        """A kind in any case is read; the row keeps it as written."""
        path = write(tmp_path, "kind,value\nIP,81.2.69.5\nWallet,"
                               "0x4F47BC496083C727C5FBE3CE9CDF2B0F6496270C\n")

        rows, _ = read_inputs([path])

        assert [r.kind for r in rows] == ["IP", "Wallet"]
        assert rows[0].items == canonicalise("ip", "81.2.69.5")

    def test_blank_lines_skipped_and_counted(self, tmp_path):
        """Blank, whitespace-only and all-empty rows are counted, not
        read, and line numbers stay physical."""
        path = write(tmp_path, "\nkind,value\n\nip,81.2.69.5\n   \n,\n"
                               "\r\nip,8.8.8.8\n")

        rows, report = read_inputs([path])

        assert [r.line for r in rows] == [4, 8]
        assert report.blank == 5
        assert report.rows_read == 2

    def test_duplicates_kept_in_order(self, tmp_path):
        """Duplicate values are all returned; collapsing is not done
        here."""
        path = write(tmp_path, "kind,value,ref\nip,81.2.69.5,a\n"
                               "ip,::ffff:81.2.69.5,b\n")

        rows, _ = read_inputs([path])

        assert [r.ref for r in rows] == ["a", "b"]
        assert rows[0].items == rows[1].items

    def test_several_files_in_order(self, tmp_path):
        """Rows of several files come back file by file."""
        first = write(tmp_path, "kind,value\nip,81.2.69.5\n", "a.csv")
        second = write(tmp_path, "kind,value\nip,8.8.8.8\n", "b.csv")

        rows, report = read_inputs([second, first])

        assert [r.source for r in rows] == [str(second), str(first)]
        assert report.rows_read == 2


class TestBadRows:
    def test_invalid_utf8_row_skipped_next_row_read(self, tmp_path):
        """An invalid UTF-8 row is skipped with its line number and the
        following rows are still read."""
        path = write(tmp_path, b"kind,value\nip,81.2.69.5\n"
                               b"domain,b\xfccher.example\n"
                               b"domain,b\xc3\xbccher.example\n")

        rows, report, bad = read_collecting(path)

        assert [(b.line, b.reason) for b in bad] == [(3, "invalid-utf8")]
        assert str(bad[0]) == f"{path}:3: row is not valid UTF-8"
        assert [r.line for r in rows] == [2, 4]
        assert rows[1].value == "bücher.example"
        assert report.skipped == Counter({"invalid-utf8": 1})
        assert report.rows_read == 3

    def test_wrong_field_count_is_malformed(self, tmp_path):
        """A row with fewer or more fields than the header is skipped as
        malformed-row."""
        path = write(tmp_path, "kind,value,ref\nip,81.2.69.5\n"
                               "ip,81.2.69.5,a,b\nip,8.8.8.8,c\n")

        rows, _, bad = read_collecting(path)

        assert [(b.line, b.reason) for b in bad] == [
            (2, "malformed-row"), (3, "malformed-row")]
        assert [r.ref for r in rows] == ["c"]

    def test_broken_quoting_is_malformed(self, tmp_path):
        """Text after a closing quote, or a quote never closed, is a
        malformed row."""
        path = write(tmp_path, 'kind,value\nip,"81.2.69.5"x\n'
                               'ip,8.8.8.8\nip,"9.9.9.9\n')

        rows, _, bad = read_collecting(path)

        assert [(b.line, b.reason) for b in bad] == [
            (2, "malformed-row"), (4, "malformed-row")]
        assert [r.value for r in rows] == ["8.8.8.8"]

    def test_refused_value_reason_counted(self, tmp_path):
        """A refused value is skipped with the core's reason code."""
        path = write(tmp_path, "kind,value\nip,10.0.0.1\nip,\n"
                               "domain,singlelabel\nip,8.8.8.8\n")

        rows, report, bad = read_collecting(path)

        assert report.skipped == Counter({
            "reserved-range": 1, "empty-value": 1, "invalid-domain": 1})
        assert [b.line for b in bad] == [2, 3, 4]
        assert len(rows) == 1

    def test_unknown_kind_not_supported_yet(self, tmp_path):
        """An unknown kind is skipped with "kind not supported yet"."""
        path = write(tmp_path, "kind,value\nphone,+44 20 7946 0000\n")

        rows, _, bad = read_collecting(path)

        assert rows == []
        assert bad[0].reason == "kind-not-supported"
        assert str(bad[0]) == f"{path}:2: kind not supported yet"

    def test_value_too_long(self, tmp_path):
        """A value over MAX_VALUE_CHARS is skipped as value-too-long."""
        value = "a" * (MAX_VALUE_CHARS + 1) + ".example"
        path = write(tmp_path, f"kind,value\ndomain,{value}\n")

        _, _, bad = read_collecting(path)

        assert bad[0].reason == "value-too-long"
        assert value not in str(bad[0])

    def test_line_too_long_skipped_next_row_read(self, tmp_path):
        """A line over MAX_LINE_BYTES is skipped, not loaded, and the
        next row is read."""
        long_line = "ip," + "1" * MAX_LINE_BYTES
        path = write(tmp_path, f"kind,value\n{long_line}\nip,8.8.8.8\n")

        rows, _, bad = read_collecting(path)

        assert [(b.line, b.reason) for b in bad] == [(2, "line-too-long")]
        assert [r.line for r in rows] == [3]

    def test_unclosed_quote_bounded(self, tmp_path):
        """A quote never closed cannot swallow more than MAX_LINE_BYTES;
        reading resumes after it."""
        filler = ("x" * 1000 + "\n") * (MAX_LINE_BYTES // 1000 + 1)
        path = write(tmp_path, f'kind,value\nip,"{filler}ip,8.8.8.8\n')

        rows, _, bad = read_collecting(path)

        assert (bad[0].line, bad[0].reason) == (2, "line-too-long")
        assert [r.value for r in rows] == ["8.8.8.8"]

    def test_strict_raises_first_bad_row(self, tmp_path):
        """With strict=True the first bad row raises BadRow."""
        path = write(tmp_path, "kind,value\nip,8.8.8.8\nip,10.0.0.1\n"
                               "ip,127.0.0.1\n")

        with pytest.raises(BadRow) as info:
            read_inputs([path], strict=True)

        assert (info.value.line, info.value.reason) == (3, "reserved-range")
        assert isinstance(info.value, LabmatchError)

    @pytest.mark.parametrize(("kind", "value"), [
        ("ip", "10.11.12.13"), ("ip", "203.0.113.77"),
        ("domain", "bad_name.example"), ("wallet", "0x" + "ab" * 19 + "z1"),
        ("card", "4111111111111111"), ("ip", "81.2.69.5/24"),
    ])
    def test_errors_never_contain_value(self, tmp_path, kind, value):
        """Neither a reported nor a raised bad row includes the value."""
        path = write(tmp_path, f"kind,value,ref\n{kind},{value},r1\n")

        _, _, bad = read_collecting(path)
        with pytest.raises(BadRow) as info:
            read_inputs([path], strict=True)

        assert value not in str(bad[0])
        assert value not in str(info.value)
        assert value not in repr(info.value)

    def test_row_repr_hides_value(self, tmp_path):
        """An accepted row's repr names where it came from, not what."""
        path = write(tmp_path, "kind,value,ref\nip,81.2.69.5,r1\n")

        rows, _ = read_inputs([path])

        assert "81.2.69.5" not in repr(rows[0])


def jsonl(*objects: object) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


class TestJsonLines:
    def test_simple_file(self, tmp_path):
        """Each line's kind, value and ref are read; extra members are
        ignored and ref is optional."""
        path = write(tmp_path, jsonl(
            {"kind": "ip", "value": "81.2.69.5", "ref": "u1", "seen": 3},
            {"value": "Example.COM", "kind": "domain"}), "in.jsonl")

        rows, report = read_inputs([path])

        assert [(r.line, r.kind, r.value, r.ref) for r in rows] == [
            (1, "ip", "81.2.69.5", "u1"), (2, "domain", "Example.COM", "")]
        assert rows[1].items == canonicalise("domain", "example.com")
        assert report == ReadReport(rows_read=2, blank=0)

    @pytest.mark.parametrize("name", ["in.ndjson", "IN.JSONL",
                                      "x.csv.jsonl"])
    def test_suffixes(self, tmp_path, name):
        """.jsonl and .ndjson, in any case, are read as JSON Lines."""
        path = write(tmp_path, jsonl({"kind": "ip", "value": "8.8.8.8"}),
                     name)

        rows, _ = read_inputs([path])

        assert [r.value for r in rows] == ["8.8.8.8"]

    def test_empty_file_has_no_rows(self, tmp_path):
        """JSON Lines has no header, so an empty file is just empty."""
        path = write(tmp_path, "", "in.jsonl")

        assert read_inputs([path]) == ([], ReadReport())

    def test_blank_lines_counted_bom_and_crlf(self, tmp_path):
        """Blank lines are counted, a BOM and CRLF are accepted, and
        line numbers stay physical."""
        path = write(tmp_path, b'\xef\xbb\xbf{"kind":"ip","value":"8.8.8.8"}'
                               b'\r\n\r\n   \n{"kind":"ip","value":'
                               b'"81.2.69.5"}\n', "in.jsonl")

        rows, report = read_inputs([path])

        assert [r.line for r in rows] == [1, 4]
        assert (report.blank, report.rows_read) == (2, 2)

    @pytest.mark.parametrize(("line", "reason"), [
        ('{"kind": "ip", "value": 81}', "non-string-field"),
        ('{"kind": "ip", "value": null}', "non-string-field"),
        ('{"kind": "ip", "value": {"v": "8.8.8.8"}}', "non-string-field"),
        ('{"kind": "ip", "value": ["8.8.8.8"]}', "non-string-field"),
        ('{"kind": 4, "value": "8.8.8.8"}', "non-string-field"),
        ('{"kind": "ip", "value": "8.8.8.8", "ref": 7}',
         "non-string-field"),
        ('{"kind": "ip", "value": "8.8.8.8", "ref": null}',
         "non-string-field"),
        ('{"kind": "ip", "value": true}', "non-string-field"),
        ('{"kind": "ip"}', "missing-field"),
        ('{"value": "8.8.8.8"}', "missing-field"),
        ('{"kind": "ip", "value": "8.8.8.8"', "invalid-json"),
        ("{'kind': 'ip', 'value': '8.8.8.8'}", "invalid-json"),
        ('["ip", "8.8.8.8"]', "invalid-json"),
        ('"8.8.8.8"', "invalid-json"),
        ("kind,value", "invalid-json"),
        ("[" * 30000 + "]" * 30000, "invalid-json"),
        ('{"kind": "ip", "value": "1.1.1.1", "value": "8.8.8.8"}',
         "duplicate-field"),
        ('{"kind": "ip", "value": "10.0.0.1"}', "reserved-range"),
        ('{"kind": "ip", "value": "8.8.\\ud800"}', "invalid-text"),
    ])
    def test_bad_line_skipped_next_line_read(self, tmp_path, line, reason):
        """A bad line is reported with its number and reason, and the
        next line is still read."""
        path = write(tmp_path, line + "\n" + jsonl(
            {"kind": "ip", "value": "8.8.8.8"}), "in.jsonl")

        rows, report, bad = read_collecting(path)

        assert [(b.line, b.reason) for b in bad] == [(1, reason)]
        assert [r.line for r in rows] == [2]
        assert report.rows_read == 2
        assert report.skipped == Counter({reason: 1})

    def test_invalid_utf8_line(self, tmp_path):
        """A line that is not UTF-8 is skipped as invalid-utf8."""
        path = write(tmp_path, b'{"kind":"domain","value":"b\xfccher.de"}\n'
                               b'{"kind":"ip","value":"8.8.8.8"}\n',
                     "in.jsonl")

        rows, _, bad = read_collecting(path)

        assert [(b.line, b.reason) for b in bad] == [(1, "invalid-utf8")]
        assert len(rows) == 1

    def test_line_too_long(self, tmp_path):
        """A line over MAX_LINE_BYTES is skipped unread; the next line is
        read with its physical number."""
        long_value = "1" * MAX_LINE_BYTES
        path = write(tmp_path, jsonl({"kind": "ip", "value": long_value},
                                     {"kind": "ip", "value": "8.8.8.8"}),
                     "in.jsonl")

        rows, _, bad = read_collecting(path)

        assert [(b.line, b.reason) for b in bad] == [(1, "line-too-long")]
        assert [r.line for r in rows] == [2]

    @pytest.mark.parametrize("obj", [
        {"kind": "ip", "value": "203.0.113.77"},
        {"kind": "card-pan", "value": "4111 1111 1111 1112"},
        {"kind": "ip", "value": 81269.5},
        {"kind": "ip", "value": "81.2.69.77", "value2": 1, "ref": 12345},
    ])
    def test_errors_never_contain_value(self, tmp_path, obj):
        """Neither a reported nor a raised bad line includes the value."""
        path = write(tmp_path, jsonl(obj), "in.jsonl")

        _, _, bad = read_collecting(path)
        with pytest.raises(BadRow) as info:
            read_inputs([path], strict=True)

        for text in (str(bad[0]), str(info.value), repr(info.value)):
            assert str(obj["value"]) not in text
            assert "1111" not in text and "12345" not in text

    def test_mixed_with_csv(self, tmp_path):
        """CSV and JSON Lines files can be read together, in order."""
        first = write(tmp_path, "kind,value\nip,81.2.69.5\n", "a.csv")
        second = write(tmp_path, jsonl({"kind": "ip", "value": "8.8.8.8"}),
                       "b.jsonl")

        rows, _ = read_inputs([first, second])

        assert [(r.source, r.line) for r in rows] == [
            (str(first), 2), (str(second), 1)]


class TestNotesAndKinds:
    def test_host_bits_masked_counted(self, tmp_path):
        """Ranges with host bits set are accepted, and counted in the
        report's notes and on the row."""
        path = write(tmp_path, "kind,value\ncidr,81.2.69.5/24\n"
                               "cidr,81.2.70.0/24\ncidr,81.2.71.9/30\n")

        rows, report = read_inputs([path])

        assert report.notes == Counter({"host-bits-masked": 2})
        assert [r.notes for r in rows] == [
            ("host-bits-masked",), (), ("host-bits-masked",)]

    def test_bad_row_names_supported_kind_only(self, tmp_path):
        """A refused value's BadRow names its (lower-cased) input kind;
        an unsupported kind or unreadable row leaves it empty, so a
        value put in the kind column is never repeated."""
        path = write(tmp_path, "kind,value\nCIDR,10.0.0.0/24\n"
                               "81.2.69.5,ip\nip,8.8.8.8,extra\n")

        _, _, bad = read_collecting(path)

        assert [(b.reason, b.kind) for b in bad] == [
            ("reserved-range", "cidr"), ("kind-not-supported", ""),
            ("malformed-row", "")]


class TestConsortiumKinds:
    def test_other_kinds_skipped(self, tmp_path):
        """With kinds given, rows of other supported kinds are skipped as
        kind-not-in-consortium; unknown kinds stay kind-not-supported."""
        path = write(tmp_path, "kind,value\nip,81.2.69.5\n"
                               "Email,a@example.com\nphone,123\n"
                               "domain,example.com\n")

        rows, report, bad = read_collecting_kinds(path, [" IP", "domain"])

        assert [r.line for r in rows] == [2, 5]
        assert [(b.line, b.reason, b.kind) for b in bad] == [
            (3, "kind-not-in-consortium", "email"),
            (4, "kind-not-supported", "")]
        assert str(bad[0]) == f"{path}:3: kind not matched in this consortium"
        assert report.rows_read == 4

    def test_no_kinds_reads_every_supported_kind(self, tmp_path):
        """Without kinds every supported kind is read."""
        path = write(tmp_path, "kind,value\nemail,a@example.com\n")

        rows, _ = read_inputs([path])

        assert len(rows) == 1


def read_collecting_kinds(path: Path, kinds: list[str]):
    bad: list[BadRow] = []
    rows, report = read_inputs([path], on_bad_row=bad.append, kinds=kinds)

    return rows, report, bad


class TestFileErrors:
    def test_file_not_found_names_file(self, tmp_path):
        """A missing file raises an error naming it."""
        path = tmp_path / "missing.csv"

        with pytest.raises(InputFileError) as info:
            read_inputs([path])

        assert str(path) in str(info.value)
        assert info.value.reason == "file-not-found"

    @pytest.mark.parametrize("data", [
        "", "\n\n", "81.2.69.5\n8.8.8.8\n", "type,value\nip,8.8.8.8\n",
        "kind,data\nip,8.8.8.8\n", "kind,value,kind\nip,8.8.8.8,ip\n",
    ])
    def test_header_problems_name_file(self, tmp_path, data):
        """No header, or one without kind and value columns (or with one
        twice), is an error for the whole file, naming it."""
        path = write(tmp_path, data)

        with pytest.raises(InputFileError) as info:
            read_inputs([path])

        assert str(info.value).startswith(f"{path}: ")
        assert info.value.reason in ("missing-header", "bad-header")

    def test_invalid_utf8_header_is_file_error(self, tmp_path):
        """A header that is not UTF-8 makes the file unusable."""
        path = write(tmp_path, b"k\xffind,value\nip,8.8.8.8\n")

        with pytest.raises(InputFileError):
            read_inputs([path])

    def test_limits_are_named(self):
        """The limits are the documented numbers."""
        assert (MAX_VALUE_CHARS, MAX_LINE_BYTES, MAX_INPUT_ROWS) == (
            1024, 64 * 1024, 20_000_000)


# The real public lists, wrapped into kind,value CSV files.

def wrap_list(tmp_path: Path, source: Path, kind: str) -> Path:
    lines = source.read_text("utf-8").splitlines()
    body = "".join(f"{kind},{line}\n" for line in lines)

    return write(tmp_path, "kind,value\n" + body, source.name + ".csv")


def wrap_values(tmp_path: Path, name: str, kind: str,
                values: list[str]) -> Path:
    path = tmp_path / (name + ".csv")
    with path.open("w", encoding="utf-8", newline="") as stream:
        out = csv.writer(stream)
        out.writerow(["kind", "value"])
        out.writerows([kind, value] for value in values)

    return path


def column(source: Path, name: str) -> list[str]:
    with source.open(encoding="utf-8", newline="") as stream:
        return [row[name] for row in csv.DictReader(stream)]


def ipsum_addresses(public_data: Path) -> list[str]:
    """First column of the IPsum feed, comment lines left out."""
    lines = (public_data / "ip_blocklist_ipsum.tsv").read_text(
        "utf-8").splitlines()

    return [line.split("\t")[0] for line in lines
            if not line.startswith("#")]


@pytest.fixture(scope="module")
def ipsum(tmp_path_factory, public_data):
    """The IPsum feed read once as an ip list: (rows, report, bad)."""
    path = wrap_values(tmp_path_factory.mktemp("ipsum"), "ipsum", "ip",
                       ipsum_addresses(public_data))

    return read_collecting(path)


def item_kinds(rows: list[InputRow]) -> Counter[str]:
    return Counter(item.kind for row in rows for item in row.items)


def distinct_kinds(rows: list[InputRow]) -> Counter[str]:
    items = {item for row in rows for item in row.items}

    return Counter(item.kind for item in items)


class TestPublicLists:
    def test_tor_exit_nodes(self, tmp_path, public_data):
        """Every Tor exit address canonicalises; the expanded IPv6
        spellings fold to distinct compressed addresses."""
        path = wrap_list(tmp_path, public_data / "tor_exit_nodes.txt", "ip")

        rows, report, _ = read_collecting(path)

        # Observed on the 2024-02-27 snapshot: 1,127 IPv4 + 619 IPv6,
        # none refused; each address also emits its cells.
        assert report.rows_read == 1746
        assert report.skipped == Counter()
        assert item_kinds(rows) == Counter(
            {"ip4.addr.c1": 1127, "ip4.cell24.c1": 1127,
             "ip6.addr.c1": 619, "ip6.cell64.c1": 619,
             "ip6.cell48.c1": 619})
        assert len({row.items for row in rows}) == 1746

    def test_disposable_email_domains(self, tmp_path, public_data):
        """Every listed domain canonicalises or is refused with a
        reason."""
        path = wrap_list(tmp_path,
                         public_data / "disposable_email_domains.txt",
                         "domain")

        rows, report, bad = read_collecting(path)

        # Observed on the 2026-08-21 snapshot: one entry is refused, a
        # punycode label that decodes to an emoji (not IDNA 2008), on
        # line 8,030 of the list, so line 8,031 under the header.
        assert report.rows_read == 8335
        assert len(rows) == 8334
        assert report.skipped == Counter({"invalid-domain": 1})
        assert [b.line for b in bad] == [8031]
        assert len({row.items for row in rows}) == 8334

    def test_ofac_wallets(self, tmp_path, public_data):
        """Every OFAC wallet address canonicalises; the asset goes in
        the ref, and the distinct items match the distinct addresses."""
        source = public_data / "ofac_digital_currency_addresses.csv"
        with source.open(newline="", encoding="utf-8") as stream:
            listed = list(csv.DictReader(stream))
        body = "".join(f"wallet,{r['address']},{r['asset']}\n"
                       for r in listed)
        path = write(tmp_path, "kind,value,ref\n" + body)

        rows, report, _ = read_collecting(path)

        # Observed on the 2024-09-27 snapshot: 654 rows, none refused,
        # 641 distinct addresses giving 641 distinct items.
        assert report.rows_read == 654
        assert report.skipped == Counter()
        assert len({row.items for row in rows}) == 641
        assert Counter(row.ref for row in rows)["XBT"] == 435
        base58 = [r for r in rows if r.value.startswith(("1", "3", "T"))]
        assert all(r.items == canonicalise("wallet", r.value)
                   and r.value in r.items[0].message.decode()
                   for r in base58)

    def test_tor_relays_all(self, tmp_path, public_data):
        """Every Tor relay address canonicalises; the cells collapse."""
        path = wrap_list(tmp_path, public_data / "tor_relays_all.txt", "ip")

        rows, report, _ = read_collecting(path)

        # Observed on the 2024-02-27 snapshot: 5,631 IPv4 + 2,423 IPv6,
        # none refused; 4,273 distinct /24s, 1,789 /64s, 1,049 /48s.
        assert report.rows_read == 8054
        assert report.skipped == Counter()
        assert distinct_kinds(rows) == Counter(
            {"ip4.addr.c1": 5631, "ip4.cell24.c1": 4273,
             "ip6.addr.c1": 2423, "ip6.cell64.c1": 1789,
             "ip6.cell48.c1": 1049})

    def test_ipsum_blocklist(self, ipsum):
        """Every IPsum address (first column of the TSV, comments left
        out) canonicalises."""
        rows, report, _ = ipsum

        # Observed on the 2026-08-22 snapshot: 120,430 IPv4, none
        # refused, in 65,061 distinct /24 cells.
        assert report.rows_read == 120430
        assert report.skipped == Counter()
        assert distinct_kinds(rows) == Counter(
            {"ip4.addr.c1": 120430, "ip4.cell24.c1": 65061})

    def test_vpn_cidr_ipv4(self, tmp_path, public_data):
        """Every IPv4 VPN range canonicalises: /16-/24 into /24 cells,
        /25-/32 into addresses; none had host bits set."""
        path = wrap_list(tmp_path, public_data / "vpn_cidr_ipv4.txt", "cidr")

        rows, report, _ = read_collecting(path)

        # Observed on the 2026-08-22 snapshot: 10,862 ranges (/16 to
        # /32), none refused, none sloppy; already collapsed, so no item
        # repeats.
        assert report.rows_read == 10862
        assert report.skipped == Counter()
        assert report.notes == Counter()
        assert item_kinds(rows) == distinct_kinds(rows) == Counter(
            {"ip4.cell24.c1": 12014, "ip4.addr.c1": 68898})

    def test_vpn_cidr_ipv6(self, tmp_path, public_data):
        """IPv6 VPN ranges of /40 or longer canonicalise into /48 cells;
        the broader ones are refused as range-too-broad."""
        path = wrap_list(tmp_path, public_data / "vpn_cidr_ipv6.txt", "cidr")

        rows, report, _ = read_collecting(path)

        # Observed on the 2026-08-22 snapshot: 498 ranges, /29 to /48;
        # the 140 of /29-/39 are too broad, the 358 others give 7,447
        # /48 cells.
        assert report.rows_read == 498
        assert report.skipped == Counter({"range-too-broad": 140})
        assert distinct_kinds(rows) == Counter({"ip6.cell48.c1": 7447})

    def test_ofac_entity_names(self, tmp_path, public_data):
        """Every OFAC entity name canonicalises as an org."""
        source = public_data / "ofac_sdn_entities.csv"
        path = wrap_values(tmp_path, "ofac", "org",
                           column(source, "sdn_name"))

        rows, report, _ = read_collecting(path)

        # Observed on the 2024-05-03 snapshot: 6,884 names (6,874
        # distinct strings) give 6,838 items: legal-form spellings
        # collapse (HAVANATUR / HAVANATUR S.A., OOO VMK / LIMITED
        # LIABILITY COMPANY VMK).
        assert report.rows_read == 6884
        assert report.skipped == Counter()
        assert len({row.items for row in rows}) == 6838

    def test_sec_company_names(self, tmp_path, public_data):
        """Every SEC company name canonicalises as an org."""
        source = public_data / "sec_company_names.csv"
        path = wrap_values(tmp_path, "sec", "org", column(source, "name"))

        rows, report, _ = read_collecting(path)

        # Observed on the snapshot of 2025-08-24 or before: 10,069 rows
        # for 7,847 distinct strings give 7,841 items (TORO CO = TORO
        # CORP., RIO TINTO LTD = RIO TINTO PLC, ...). EDGAR's state
        # tags (/DE/) are kept: they are words, not legal forms.
        assert report.rows_read == 10069
        assert report.skipped == Counter()
        assert len({row.items for row in rows}) == 7841

    def test_containment_found_through_cells(self, tmp_path, public_data,
                                             ipsum):
        """Addresses inside VPN ranges meet them on a cell or address
        item, never on ancestors: the counts SOURCES.md gives."""
        ranges, _ = read_inputs([
            wrap_list(tmp_path, public_data / name, "cidr")
            for name in ("vpn_cidr_ipv4.txt", "vpn_cidr_ipv6.txt")])
        vpn = {item for row in ranges for item in row.items}
        exits, _ = read_inputs([
            wrap_list(tmp_path, public_data / "tor_exit_nodes.txt", "ip")])

        def levels(rows: list[InputRow]) -> Counter[str]:
            return Counter(item.level for row in rows
                           for item in set(row.items) & vpn)

        # SOURCES.md: 910 IPsum IPs and 142 IPv4 Tor exits lie in a VPN
        # range; 138 IPv6 exits lie in a /40-/48 IPv6 range too.
        assert levels(ipsum[0]) == Counter({"ip4/24": 894, "exact": 16})
        assert levels(exits) == Counter({"ip4/24": 142, "ip6/48": 138})
