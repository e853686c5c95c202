"""Reading a lab's input files.

An input file is CSV (RFC 4180 quoting, UTF-8, optional BOM, LF or CRLF)
with a header row naming a ``kind`` and a ``value`` column and, if the
lab keeps its own record ids, a ``ref`` column. Header names are matched
without regard to case or surrounding spaces; other columns are ignored.

A file whose name ends ``.jsonl`` or ``.ndjson`` is JSON Lines instead:
one JSON object per line with string members ``kind`` and ``value`` and
an optional string ``ref``; other members are ignored. A line that is
not JSON (``invalid-json``), lacks ``kind`` or ``value``
(``missing-field``), gives one of the three a value that is not a string
(``non-string-field``) or names one twice (``duplicate-field``) is a bad
row like any other.

A problem with one row never loses the others: the row is reported as a
:class:`BadRow` (file, line, reason; never the value) and skipped, or,
with ``strict=True``, raised. A problem with the file itself (missing,
unreadable, no usable header, too many rows) raises
:class:`InputFileError`. Duplicates are kept: the sync engine collapses
them and keeps every ref.

Memory is bounded per row: a record (one physical line, or a quoted
record spread over several) longer than :data:`MAX_LINE_BYTES`, line
ends included, is refused without being read into memory whole. Values
longer than :data:`MAX_VALUE_CHARS` are refused by the core.
"""
from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from labmatch.psi import identifiers
from labmatch.psi.errors import IdentifierRefused, LabmatchError
from labmatch.psi.identifiers import MatchItem

__all__ = [
    "MAX_VALUE_CHARS",
    "MAX_LINE_BYTES",
    "MAX_INPUT_ROWS",
    "InputRow",
    "ReadReport",
    "BadRow",
    "InputFileError",
    "read_inputs",
]

MAX_VALUE_CHARS = identifiers.MAX_VALUE_CHARS
MAX_LINE_BYTES = 64 * 1024
MAX_INPUT_ROWS = 20_000_000

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")

_BOM = b"\xef\xbb\xbf"
_REQUIRED_COLUMNS = ("kind", "value")
_FIELDS = ("kind", "value", "ref")
_MESSAGES = {
    "invalid-utf8": "row is not valid UTF-8",
    "malformed-row": "row does not parse as CSV with the header's columns",
    "line-too-long": f"row longer than {MAX_LINE_BYTES} bytes",
    "invalid-json": "line is not a JSON object",
    "missing-field": "line lacks a 'kind' or a 'value' member",
    "non-string-field": "'kind', 'value' and 'ref' must be JSON strings",
    "duplicate-field": "line names 'kind', 'value' or 'ref' twice",
    "kind-not-in-consortium": "kind not matched in this consortium",
}


@dataclass(frozen=True)
class InputRow:
    """One accepted row. ``value`` is identifying: never log it."""

    source: str
    line: int
    kind: str
    value: str
    ref: str
    items: tuple[MatchItem, ...]
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (f"InputRow(source={self.source!r}, line={self.line}, "
                f"kind={self.kind!r})")


@dataclass
class ReadReport:
    """What reading saw: data rows (good and bad), blank lines, the
    skipped rows by reason code, and accepted rows by note code (such as
    ``host-bits-masked``: a CIDR range written with host bits set)."""

    rows_read: int = 0
    blank: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)


class BadRow(LabmatchError, ValueError):
    """A row that was skipped, or raised under ``strict``.

    ``kind`` is the row's input kind, lower-cased, when the row was read
    far enough to have a supported one, and empty otherwise.
    """

    def __init__(self, source: str, line: int, reason: str,
                 message: str | None = None, kind: str = "") -> None:
        super().__init__(f"{source}:{line}: {message or reason}")
        self.source = source
        self.line = line
        self.reason = reason
        self.kind = kind


class InputFileError(LabmatchError, ValueError):
    """An input file as a whole cannot be used."""

    def __init__(self, source: str, reason: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = reason


def read_inputs(
    paths: Sequence[str | Path],
    *,
    strict: bool = False,
    on_bad_row: Callable[[BadRow], None] | None = None,
    kinds: Collection[str] | None = None,
) -> tuple[list[InputRow], ReadReport]:
    """Read every row of ``paths``, in order.

    Returns the accepted rows in input order and a report. Bad rows are
    counted in the report and passed to ``on_bad_row``; with ``strict``
    the first one raises instead. ``kinds``, if given, are the input
    kinds the consortium matches: a row of any other supported kind is
    a bad row, ``kind-not-in-consortium``, rather than read and never
    matched.
    """
    reader = _Reader(strict, on_bad_row, kinds)
    for path in paths:
        reader.read_file(str(path))

    return reader.rows, reader.report


class _LineTooLong(Exception):
    """Raised through csv.reader to abandon an over-long record."""


class _Lines:
    """Physical lines of a binary stream, decoded and numbered.

    ``begin_record`` marks where the next CSV record starts; ``flag``
    then tells whether any line of that record was not valid UTF-8.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.number = 0
        self.flag: str | None = None
        self._record_bytes = 0

    def begin_record(self) -> int:
        self.flag = None
        self._record_bytes = 0

        return self.number + 1

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration

        self.number += 1
        if self.number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        self._record_bytes += len(raw)
        if self._overlong(raw):
            raise _LineTooLong

        return self._decode(raw)

    def _overlong(self, raw: bytes) -> bool:
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            self._skip_rest_of_line()

        return self._record_bytes > MAX_LINE_BYTES

    def _skip_rest_of_line(self) -> None:
        while True:
            chunk = self._stream.readline(MAX_LINE_BYTES)
            if not chunk or chunk.endswith(b"\n"):
                return

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.flag = "invalid-utf8"

        return raw.decode("utf-8", "replace")


@dataclass(frozen=True)
class _Record:
    line: int
    fields: list[str]
    problem: str | None


def _records(lines: _Lines) -> Iterator[_Record]:
    """CSV records with the physical line each starts on."""
    reader = csv.reader(lines, strict=True)
    while True:
        start = lines.begin_record()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except _LineTooLong:
            yield _Record(start, [], "line-too-long")
            continue
        except csv.Error:
            yield _Record(start, [], "malformed-row")
            continue
        yield _Record(start, fields, lines.flag)


def _is_blank(record: _Record) -> bool:
    return record.problem is None and not any(
        f.strip() for f in record.fields)


@dataclass(frozen=True)
class _Columns:
    width: int
    kind: int
    value: int
    ref: int | None


def _columns(source: str, record: _Record) -> _Columns:
    if record.problem is not None:
        raise InputFileError(source, "bad-header", "header row unreadable")

    names = [name.strip().lower() for name in record.fields]
    for name in (*_REQUIRED_COLUMNS, "ref"):
        if names.count(name) > 1:
            raise InputFileError(
                source, "bad-header", f"header names {name!r} twice")
    if not all(name in names for name in _REQUIRED_COLUMNS):
        raise InputFileError(
            source, "bad-header",
            "header row must name a 'kind' and a 'value' column")

    ref = names.index("ref") if "ref" in names else None

    return _Columns(len(names), names.index("kind"),
                    names.index("value"), ref)


class _DuplicateField(ValueError):
    """Raised through json.loads when a line names a field twice."""


def _no_duplicate_fields(
        pairs: list[tuple[str, object]]) -> dict[str, object]:
    names = [name for name, _ in pairs if name in _FIELDS]
    if len(names) != len(set(names)):
        raise _DuplicateField

    return dict(pairs)


def _json_fields(text: str) -> tuple[str, str, str] | str:
    """(kind, value, ref) of one JSON line, or the reason it has none."""
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_fields)
    except _DuplicateField:
        return "duplicate-field"
    except (ValueError, RecursionError):
        return "invalid-json"

    if not isinstance(obj, dict):
        return "invalid-json"
    if "kind" not in obj or "value" not in obj:
        return "missing-field"
    fields = (obj["kind"], obj["value"], obj.get("ref", ""))
    if not all(isinstance(f, str) for f in fields):
        return "non-string-field"

    return fields  # type: ignore[return-value]


class _Reader:
    def __init__(self, strict: bool,
                 on_bad_row: Callable[[BadRow], None] | None,
                 kinds: Collection[str] | None) -> None:
        self.rows: list[InputRow] = []
        self.report = ReadReport()
        self._strict = strict
        self._on_bad_row = on_bad_row
        self._kinds = (None if kinds is None
                       else frozenset(k.strip().lower() for k in kinds))

    def read_file(self, source: str) -> None:
        with _open(source) as stream:
            if source.lower().endswith(JSON_LINES_SUFFIXES):
                self._read_json_lines(source, _Lines(stream))
            else:
                self._read_csv(source, stream)

    def _read_csv(self, source: str, stream: BinaryIO) -> None:
        records = _records(_Lines(stream))
        columns = self._header(source, records)
        for record in records:
            self._record(source, columns, record)

    def _read_json_lines(self, source: str, lines: _Lines) -> None:
        while True:
            start = lines.begin_record()
            try:
                text = next(lines)
            except StopIteration:
                return
            except _LineTooLong:
                self._count_row(source)
                self._bad(source, start, "line-too-long")
                continue
            self._json_line(source, start, text, lines.flag)

    def _json_line(self, source: str, line: int, text: str,
                   problem: str | None) -> None:
        if problem is None and not text.strip():
            self.report.blank += 1
            return

        self._count_row(source)
        fields = problem or _json_fields(text)
        if isinstance(fields, str):
            self._bad(source, line, fields)
            return

        self._row(source, line, *fields)

    def _header(self, source: str, records: Iterator[_Record]) -> _Columns:
        for record in records:
            if _is_blank(record):
                self.report.blank += 1
                continue
            return _columns(source, record)

        raise InputFileError(
            source, "missing-header",
            "empty file: a header row naming 'kind' and 'value' is needed")

    def _record(self, source: str, columns: _Columns,
                record: _Record) -> None:
        if _is_blank(record):
            self.report.blank += 1
            return

        self._count_row(source)
        problem = record.problem
        if problem is None and len(record.fields) != columns.width:
            problem = "malformed-row"
        if problem is not None:
            self._bad(source, record.line, problem)
            return

        fields = record.fields
        ref = "" if columns.ref is None else fields[columns.ref]
        self._row(source, record.line, fields[columns.kind],
                  fields[columns.value], ref)

    def _count_row(self, source: str) -> None:
        self.report.rows_read += 1
        if self.report.rows_read > MAX_INPUT_ROWS:
            raise InputFileError(
                source, "too-many-rows",
                f"more than {MAX_INPUT_ROWS} rows in all inputs")

    def _row(self, source: str, line: int, kind: str, value: str,
             ref: str) -> None:
        known = _known(kind)
        if known and self._kinds is not None and known not in self._kinds:
            self._bad(source, line, "kind-not-in-consortium", kind=known)
            return

        try:
            form = identifiers.canonical_form(kind, value)
        except IdentifierRefused as exc:
            self._bad(source, line, exc.reason, str(exc), known)
            return

        self.report.notes.update(form.notes)
        self.rows.append(InputRow(source, line, kind, value, ref,
                                  form.items, form.notes))

    def _bad(self, source: str, line: int, reason: str,
             message: str | None = None, kind: str = "") -> None:
        error = BadRow(source, line, reason,
                       message or _MESSAGES[reason], kind)
        if self._strict:
            raise error

        self.report.skipped[reason] += 1
        if self._on_bad_row is not None:
            self._on_bad_row(error)


def _known(kind: str) -> str:
    """The input kind, lower-cased, if supported; else empty, so a value
    put in the kind column is never repeated."""
    folded = kind.strip().lower()

    return folded if folded in identifiers.INPUT_KINDS else ""


def _open(source: str) -> BinaryIO:
    try:
        return open(source, "rb")
    except FileNotFoundError:
        raise InputFileError(
            source, "file-not-found", "input file not found") from None
    except OSError as exc:
        raise InputFileError(
            source, "file-unreadable",
            f"cannot read input file ({exc.strerror})") from None
