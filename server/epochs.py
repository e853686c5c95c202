"""Epoch names and the time windows the coordinator enforces.

An epoch is one UTC day, named YYYY-MM-DD. Labs may upload and evaluate
from the day before an epoch starts until its grace period ends; escrow
releases token lists only inside that window, and stored objects expire
when it closes.
"""
from __future__ import annotations

import datetime as dt
import re

__all__ = ["GRACE", "EARLY", "parse_epoch", "window", "ttl_seconds"]

GRACE = dt.timedelta(hours=48)
EARLY = dt.timedelta(days=1)
MIN_TTL = 3600
_EPOCH = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_epoch(epoch: str) -> dt.datetime:
    """The epoch's start (UTC midnight); ValueError when malformed."""
    if not isinstance(epoch, str) or not _EPOCH.fullmatch(epoch):
        raise ValueError("epoch must be a date written YYYY-MM-DD")
    day = dt.date.fromisoformat(epoch)

    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def window(epoch: str) -> tuple[dt.datetime, dt.datetime]:
    """(opens, closes) for work on ``epoch``."""
    start = parse_epoch(epoch)

    return start - EARLY, start + dt.timedelta(days=1) + GRACE


def is_open(epoch: str, now: dt.datetime) -> bool:
    opens, closes = window(epoch)
    return opens <= now < closes


def ttl_seconds(epoch: str, now: dt.datetime) -> int:
    """Seconds until the epoch's window closes (at least an hour)."""
    _, closes = window(epoch)

    return max(MIN_TTL, int((closes - now).total_seconds()))
