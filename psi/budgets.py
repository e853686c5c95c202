"""Evaluation budgets: how many items one lab evaluates for another.

A budget caps the items an evaluator processes for one requester in one
(epoch, kind); it bounds probing (a lab uploading guesses to learn which
of them its peers hold). Cell kinds get small budgets, since the whole
IPv4 /24 space (2^24 cells) would otherwise fit in a few nights
(research notes 7). Consortium files may set their own per kind.
"""
from __future__ import annotations

from .manifest import MAX_UPLOAD_ELEMENTS

__all__ = ["DEFAULT_BUDGET", "DEFAULT_BUDGETS", "budget_for"]

DEFAULT_BUDGET = 1 << 22          # 4,194,304 items per peer per epoch
DEFAULT_BUDGETS = {
    "ip4.cell24.c1": 1 << 18,     # 262,144 /24 cells per peer per epoch
    "ip6.cell48.c1": 1 << 18,
    "ip6.cell64.c1": 1 << 18,
}


def budget_for(kind: str, overrides: dict[str, int] | None = None) -> int:
    budget = (overrides or {}).get(kind, DEFAULT_BUDGETS.get(
        kind, DEFAULT_BUDGET))
    if not 0 < budget <= MAX_UPLOAD_ELEMENTS:
        raise ValueError(f"budget for {kind} must be 1..{MAX_UPLOAD_ELEMENTS}")
    return budget
