"""``labmatch sync`` as one job: read, blind, sync, write, summarise.

Exit codes: 0 every pair and kind complete; 75 (EX_TEMPFAIL) the sync ran
correctly but some peer is not complete yet (including a ``--wait``
timeout); 1 failed; 2 usage error or a ``--strict`` abort.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from labmatch.psi.errors import LabmatchError
from labmatch.psi.identifiers import LEVELS, REDACTED_INPUT_KINDS, match_kinds

from .consortium import load_lab
from .enrolment import expiry_warning
from .inputs import BadRow, InputRow, ReadReport, read_inputs
from .outputs import write_matches
from .parallel import Crypto
from .progress import Progress
from .state import LabState
from .sync import KindItems, SyncEngine, group_items, run_passes
from .transport import CoordinatorClient

__all__ = ["SyncOptions", "run_sync", "EXIT_OK", "EXIT_INCOMPLETE",
           "EXIT_FAILED", "EXIT_USAGE"]

log = logging.getLogger("labmatch.client")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 75


@dataclass
class SyncOptions:
    lab_dir: Path
    inputs: list[Path]
    output: Path
    coordinator: str | None = None
    epoch: str | None = None
    wait: float | None = None
    summary_json: Path | None = None
    strict: bool = False
    quiet: bool = False
    workers: int | None = None


@dataclass
class Summary:
    lab: str
    epoch: str
    report: ReadReport
    items: dict[str, int] = field(default_factory=dict)
    by_peer: dict[str, Counter] = field(default_factory=dict)
    matches: dict[str, int] = field(default_factory=dict)
    output_rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(c["incomplete"] == 0 for c in self.by_peer.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "lab": self.lab,
            "epoch": self.epoch,
            "rows_read": self.report.rows_read,
            "rows_blank": self.report.blank,
            "rows_skipped": sum(self.report.skipped.values()),
            "skipped": dict(sorted(self.report.skipped.items())),
            "notes": dict(sorted(self.report.notes.items())),
            "items_uploaded": dict(sorted(self.items.items())),
            "pairs_complete": {p: c["complete"]
                               for p, c in sorted(self.by_peer.items())},
            "pairs_incomplete": {p: c["incomplete"]
                                 for p, c in sorted(self.by_peer.items())},
            "matches": dict(sorted(self.matches.items())),
            "output_rows": self.output_rows,
            "status": "complete" if self.complete else "incomplete",
        }

    def lines(self) -> list[str]:
        """Stable ``key: value`` lines; nested keys joined with dots."""
        out = []
        for key, value in self.as_dict().items():
            if isinstance(value, dict):
                out += [f"{key}.{k}: {v}" for k, v in value.items()]
            else:
                out.append(f"{key}: {value}")
        return out


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _bad_row_printer(stream: TextIO):
    def on_bad_row(error: BadRow) -> None:
        print(f"skipped {error}", file=stream)
    return on_bad_row


async def _sync(options: SyncOptions, creds, rows: list[InputRow],
                items: dict[str, KindItems], summary: Summary,
                progress: Progress) -> None:
    address = options.coordinator or creds.consortium.coordinator
    with LabState(creds.directory) as state, Crypto(
            state.seed(), consortium_id=creds.consortium.consortium_id,
            lab=creds.name, epoch=summary.epoch,
            workers=options.workers) as crypto:
        async with CoordinatorClient(
                address, tls_key=creds.tls_key, tls_cert=creds.tls_cert,
                ca_cert=creds.ca_cert) as client:
            engine = SyncEngine(
                lab=creds.name, consortium=creds.consortium,
                signing_key=creds.signing_key,
                sealing_key=creds.sealing_key, state=state, client=client,
                epoch=summary.epoch, progress=progress,
                kinds=match_kinds(creds.consortium.kinds), crypto=crypto)
            engine.prepare(items)
            await run_passes(engine, options.wait)
    match_rows = engine.match_rows(rows, items, level_order=LEVELS,
                                   redacted_kinds=REDACTED_INPUT_KINDS)
    summary.output_rows = write_matches(options.output, match_rows)
    counts = engine.summary_counts()
    summary.by_peer = counts["by_peer"]
    summary.problems = counts["problems"]
    summary.matches = {p: 0 for p in engine.peers}
    for row in match_rows:
        for peer in row.peers:
            summary.matches[peer] += 1


def run_sync(options: SyncOptions, stderr: TextIO = sys.stderr) -> int:
    epoch = options.epoch or _today()
    progress = Progress(stderr, quiet=options.quiet)
    out_dir = options.output.parent
    if not out_dir.is_dir():
        print(f"labmatch sync: {out_dir}: the output's directory does not "
              f"exist", file=stderr)
        return EXIT_USAGE
    try:
        creds = load_lab(options.lab_dir)
        rows, report = read_inputs(
            options.inputs, strict=options.strict,
            on_bad_row=_bad_row_printer(stderr),
            kinds=creds.consortium.kinds)
    except BadRow as exc:
        print(f"labmatch sync: aborted (--strict): {exc}", file=stderr)
        return EXIT_USAGE
    except (LabmatchError, OSError) as exc:
        print(f"labmatch sync: {exc}", file=stderr)
        return EXIT_FAILED
    warning = expiry_warning(creds.tls_cert)
    if warning:
        print(f"warning: {warning}", file=stderr)
    kinds = match_kinds(creds.consortium.kinds)
    items = group_items(rows, kinds)
    summary = Summary(lab=creds.name, epoch=epoch, report=report,
                      items={k: len(items[k].messages) for k in kinds})
    try:
        asyncio.run(_sync(options, creds, rows, items, summary, progress))
    except (LabmatchError, OSError) as exc:
        print(f"labmatch sync: {exc}", file=stderr)
        return EXIT_FAILED
    for problem in summary.problems:
        print(f"warning: {problem}", file=stderr)
    if options.wait is not None and not summary.complete:
        print(f"waited up to {options.wait:g} s; some pairs are not "
              f"complete yet (see pairs_incomplete)", file=stderr)
    if not options.quiet:
        print("\n".join(summary.lines()), file=stderr)
    if options.summary_json is not None:
        options.summary_json.write_text(
            json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")

    return EXIT_OK if summary.complete else EXIT_INCOMPLETE
