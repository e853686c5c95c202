"""The time windows the coordinator enforces, from :mod:`labmatch.wire`.

Labs may upload and evaluate from the day before an epoch starts until
its grace period ends (``wire.epoch_window``); escrow releases token lists
only inside that window, and stored objects expire when it closes.
"""
from __future__ import annotations

import datetime as dt

from labmatch.wire import epoch_window

__all__ = ["is_open", "ttl_seconds"]

MIN_TTL = 3600


def is_open(epoch: str, now: dt.datetime) -> bool:
    opens, closes = epoch_window(epoch)
    return opens <= now < closes


def ttl_seconds(epoch: str, now: dt.datetime) -> int:
    """Seconds until the epoch's window closes (at least an hour)."""
    _, closes = epoch_window(epoch)

    return max(MIN_TTL, int((closes - now).total_seconds()))
