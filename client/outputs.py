"""The match file a sync writes back, keyed by the lab's own refs.

CSV, UTF-8 without BOM, ``\\n`` line endings, RFC 4180 quoting, header
``kind,value,ref,level,peers`` even when empty. The file is written beside
its destination and renamed over it, so readers see the old file or the
new one, never half of one.
"""
from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HEADER", "MatchRow", "write_matches"]

HEADER = ("kind", "value", "ref", "level", "peers")


@dataclass(frozen=True)
class MatchRow:
    kind: str
    value: str = field(repr=False)   # an identifier: never in a repr
    ref: str
    level: str
    peers: tuple[str, ...]

    def cells(self) -> tuple[str, str, str, str, str]:
        return (self.kind, self.value, self.ref, self.level,
                ";".join(sorted(self.peers)))


def write_matches(path: Path, rows: Iterable[MatchRow]) -> int:
    """Replace ``path`` atomically; returns the number of rows."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(HEADER)
            for row in rows:
                writer.writerow(row.cells())
                count += 1
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise

    return count
