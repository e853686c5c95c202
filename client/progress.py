"""Progress lines on stderr for long steps.

On a terminal one line is rewritten in place; otherwise (cron, CI, a
pipe) plain lines are printed, at most one per step every few seconds.
Only counts and kind or peer names appear, never values.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]

INTERVAL = 2.0
# Off a terminal, steps smaller than this print no progress lines.
PLAIN_MIN_TOTAL = 1000


class Progress:
    def __init__(self, stream: TextIO | None = None, *,
                 quiet: bool = False) -> None:
        self._stream = stream or sys.stderr
        self._quiet = quiet
        self._tty = self._stream.isatty()
        self._last: dict[str, float] = {}

    def note(self, message: str) -> None:
        """A one-off line (a step started or finished)."""
        if self._quiet:
            return
        self._end_line()
        print(message, file=self._stream, flush=True)

    def update(self, step: str, done: int, total: int) -> None:
        """Report ``done`` of ``total`` for ``step``, rate-limited."""
        if self._quiet:
            return
        now = time.monotonic()
        finished = done >= total
        if not finished and now - self._last.get(step, 0.0) < INTERVAL:
            return
        self._last[step] = now
        text = f"{step}: {done}/{total}"
        if self._tty:
            end = "\n" if finished else ""
            print(f"\r\x1b[K{text}", end=end, file=self._stream, flush=True)
        elif total >= PLAIN_MIN_TOTAL:
            print(text, file=self._stream, flush=True)

    def _end_line(self) -> None:
        if self._tty:
            print("\r\x1b[K", end="", file=self._stream, flush=True)
