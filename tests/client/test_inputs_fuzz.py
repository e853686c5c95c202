"""Fuzzing the input readers: any bytes, as CSV or as JSON Lines.

``read_inputs`` may refuse a whole file (InputFileError) and, under
``strict``, a row (BadRow); nothing else may escape, whatever the bytes,
and no file may take long. Rows it accepts are well formed.
"""
from __future__ import annotations

import contextlib
import json
import signal
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labmatch.client.inputs import (
    MAX_LINE_BYTES,
    BadRow,
    InputFileError,
    read_inputs,
)
from labmatch.psi.identifiers import INPUT_KINDS

SECONDS_PER_FILE = 5
SUFFIXES = [".csv", ".jsonl", ".ndjson", ".txt"]
FUZZ = settings(max_examples=60, deadline=None, database=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise Hang in this (main) thread if the block runs too long."""
    def alarm(signum, frame):
        raise Hang(f"read_inputs ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read(data: bytes, suffix: str, strict: bool):
    """read_inputs on ``data`` in a file ending ``suffix``: (rows, report)
    or the documented error it raised."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        bad: list[BadRow] = []
        with time_limit(SECONDS_PER_FILE):
            try:
                rows, report = read_inputs([path], strict=strict,
                                           on_bad_row=bad.append)
            except InputFileError as exc:
                assert exc.reason and str(path) in str(exc)
                return exc
            except BadRow as exc:
                assert strict, "BadRow escaped without strict"
                assert exc.reason and exc.line >= 1
                return exc
    assert report.rows_read == len(rows) + sum(report.skipped.values())
    assert len(bad) == sum(report.skipped.values())
    for row in rows:
        assert row.items and row.line >= 1
        assert all(item.message for item in row.items)
    for error in bad:
        assert error.reason and error.line >= 1
    return rows, report


# Bytes that look like input: header words, kinds, separators, quotes,
# line ends, a BOM, JSON punctuation, non-ASCII, invalid UTF-8.
_PIECES = st.sampled_from([
    b"kind", b"value", b"ref", b"Kind ", b",", b";", b'"', b'""', b"\n",
    b"\r\n", b"\r", b"\xef\xbb\xbf", b"{", b"}", b":", b"[", b"]",
    b'"kind"', b'"value"', b'"ref"', b"null", b"1e999", b"\\u0000",
    b"\\ud800", b"\x00", b"\xff", b"\xc3", b" ", b"\t", b"::1",
    b"10.0.0.1", b"81.2.69.160", b"/24", b"xn--", b"\xe2\x80\x8b",
    b"example.com", b"@", b"4111111111111111", b"0x", b"bc1q",
    b"\xd9\xa0", b"\xef\xbc\x8e", b".", b"-", b"#",
] + [k.encode() for k in INPUT_KINDS])
_LOOKALIKE = st.lists(_PIECES, max_size=60).map(b"".join)
_ANY = st.one_of(st.binary(max_size=2000), _LOOKALIKE)


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("suffix", SUFFIXES)
@FUZZ
@given(data=_ANY)
def test_random_bytes_never_crash_the_reader(suffix, strict, data):
    """Any bytes: rows, or a documented refusal; never another error."""
    read(data, suffix, strict)


_CELL = st.one_of(
    st.text(max_size=30),
    st.sampled_from(list(INPUT_KINDS) + ["IP", " domain ", "unknown"]),
    st.from_regex(r"[0-9a-f:.]{1,20}(/[0-9]{1,3})?", fullmatch=True),
)


@st.composite
def _csv_files(draw) -> bytes:
    header = draw(st.permutations(["kind", "value", "ref", "extra"]))
    width = draw(st.integers(2, 4))
    lines = [",".join(header[:width]) if draw(st.booleans()) else
             "kind,value"]
    for _ in range(draw(st.integers(0, 12))):
        cells = draw(st.lists(_CELL, min_size=1, max_size=5))
        lines.append(",".join(
            json.dumps(c) if draw(st.booleans()) else c for c in cells))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
    return text.encode(encoding, "replace")


@st.composite
def _jsonl_files(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        obj = draw(st.dictionaries(
            st.sampled_from(["kind", "value", "ref", "x"]),
            st.one_of(_CELL, st.integers(), st.none(), st.lists(
                st.integers(), max_size=2)), max_size=4))
        line = json.dumps(obj, ensure_ascii=draw(st.booleans()))
        if draw(st.integers(0, 9)) == 0:
            line = line[:draw(st.integers(0, len(line)))]
        lines.append(line)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@FUZZ
@given(data=_csv_files())
def test_csv_shaped_files_never_crash_the_reader(strict, data):
    """CSV with real headers and random cells: rows or refusals only."""
    read(data, ".csv", strict)


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@FUZZ
@given(data=_jsonl_files())
def test_json_lines_never_crash_the_reader(strict, data):
    """JSON Lines with random members and values: rows or refusals only."""
    read(data, ".jsonl", strict)


@settings(max_examples=10, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(unit=st.binary(min_size=1, max_size=64),
       suffix=st.sampled_from([".csv", ".jsonl"]),
       quoted=st.booleans())
def test_overlong_lines_are_bounded(unit, suffix, quoted):
    """An over-long line or record, of any bytes, is refused quickly."""
    body = (unit.replace(b"\n", b"") or b"x") * (
        MAX_LINE_BYTES // max(1, len(unit)) + 2)
    if quoted:
        body = b'"' + body.replace(b'"', b"") + b"\n" + body + b'"'
    data = b"kind,value\n" + body + b"\nip,81.2.69.160\n"
    result = read(data, suffix, strict=False)
    if isinstance(result, tuple):
        rows, report = result
        assert all(len(r.value) <= MAX_LINE_BYTES for r in rows)
