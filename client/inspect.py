"""What a lab's input files would upload, before anything is sent.

:func:`inspect_inputs` reads input files exactly as a sync would and
reports, per input kind: the rows read, how many canonicalise, the
refusals by reason, the distinct items per match kind (what would be
blinded and uploaded), and for ``cidr`` how many ranges had host bits
masked. Nothing leaves the machine.

By default the report holds no value at all, only counts and reason
codes. With ``show_values`` it also lists a few canonical values per
kind, so a lab can see what canonicalisation made of its data; values of
kinds in :data:`~labmatch.psi.identifiers.REDACTED_INPUT_KINDS` (card
numbers) are never shown.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labmatch.psi import identifiers
from labmatch.psi.identifiers import (
    INPUT_KINDS,
    NOTE_HOST_BITS_MASKED,
    REDACTED_INPUT_KINDS,
)

from .inputs import BadRow, InputRow, ReadReport, read_inputs

__all__ = ["inspect_inputs"]

_INDENT = "  "


@dataclass
class _KindStats:
    rows: int = 0
    canonical: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    items: dict[str, set[bytes]] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


@dataclass
class _Inspection:
    report: ReadReport
    files: int
    kinds: dict[str, _KindStats] = field(default_factory=dict)
    unkinded: Counter[str] = field(default_factory=Counter)

    def stats(self, kind: str) -> _KindStats:
        return self.kinds.setdefault(kind, _KindStats())


def inspect_inputs(paths: Sequence[str | Path], *, show_values: bool = False,
                   examples: int = 3) -> str:
    """The text report on ``paths`` (see the module docstring).

    Raises :class:`~labmatch.client.inputs.InputFileError` for a file
    that cannot be used at all, as a sync would.
    """
    bad: list[BadRow] = []
    rows, report = read_inputs(paths, on_bad_row=bad.append)
    inspection = _Inspection(report, len(paths))
    for row in rows:
        _add_row(inspection, row, examples if show_values else 0)
    for error in bad:
        _add_bad(inspection, error)

    return "\n".join(_render(inspection, show_values)) + "\n"


def _add_row(inspection: _Inspection, row: InputRow, examples: int) -> None:
    kind = row.kind.strip().lower()
    stats = inspection.stats(kind)
    stats.rows += 1
    stats.canonical += 1
    stats.notes.update(row.notes)
    for item in row.items:
        stats.items.setdefault(item.kind, set()).add(item.message)

    if kind not in REDACTED_INPUT_KINDS and len(stats.examples) < examples:
        text = identifiers.canonical_text(kind, row.value)
        if text not in stats.examples:
            stats.examples.append(text)


def _add_bad(inspection: _Inspection, error: BadRow) -> None:
    if not error.kind:
        inspection.unkinded[error.reason] += 1
        return

    stats = inspection.stats(error.kind)
    stats.rows += 1
    stats.refused[error.reason] += 1


def _render(inspection: _Inspection, show_values: bool) -> list[str]:
    report = inspection.report
    refused = sum(report.skipped.values())
    lines = [
        f"files: {inspection.files}",
        f"rows read: {report.rows_read}",
        f"blank lines: {report.blank}",
        f"rows canonical: {report.rows_read - refused}",
        f"rows refused: {refused}",
    ]
    for kind in sorted(inspection.kinds, key=INPUT_KINDS.index):
        lines += _render_kind(kind, inspection.kinds[kind], show_values)
    if inspection.unkinded:
        total = sum(inspection.unkinded.values())
        lines += ["", f"rows without a usable kind: {total}"]
        lines += _counts(inspection.unkinded, _INDENT)

    return lines


def _render_kind(kind: str, stats: _KindStats,
                 show_values: bool) -> list[str]:
    lines = ["", f"kind {kind}",
             f"{_INDENT}rows: {stats.rows}",
             f"{_INDENT}canonical: {stats.canonical}",
             f"{_INDENT}refused: {sum(stats.refused.values())}"]
    lines += _counts(stats.refused, _INDENT * 2)
    if kind == "cidr":
        masked = stats.notes[NOTE_HOST_BITS_MASKED]
        lines.append(f"{_INDENT}host bits masked: {masked}")
    distinct = Counter({k: len(v) for k, v in stats.items.items()})
    lines.append(f"{_INDENT}distinct items: {sum(distinct.values())}")
    lines += _counts(distinct, _INDENT * 2, by_name=True)

    return lines + _render_examples(kind, stats, show_values)


def _render_examples(kind: str, stats: _KindStats,
                     show_values: bool) -> list[str]:
    if kind in REDACTED_INPUT_KINDS:
        return [f"{_INDENT}examples: never shown for {kind}"]
    if not show_values:
        return [f"{_INDENT}examples: not shown"]

    return [f"{_INDENT}examples:"] + [
        f"{_INDENT * 2}{text}" for text in stats.examples]


def _counts(counts: Counter[str], indent: str,
            by_name: bool = False) -> list[str]:
    """``name: n`` lines, largest first (or by name), ties by name."""
    if by_name:
        ordered = sorted(counts.items())
    else:
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    return [f"{indent}{name}: {n}" for name, n in ordered]
