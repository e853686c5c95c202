"""The steps of a pairwise round, as pure functions over bytes.

1. ``blind_upload``: the owner hashes its canonical items to the group,
   blinds them with its epoch key and sorts the result by encoding (never
   by plaintext or input order, which would leak neighbours).
2. ``evaluate_upload``: a peer validates every received element, refuses
   unsorted or repeated ones, multiplies by its own epoch key and
   finalises each result into a pair-labelled token, in the owner's order.
3. ``match_positions``: the owner compares the tokens it received with the
   tokens it computed itself from the peer's upload.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence

from . import group
from .errors import InvalidElement
from .keys import EpochKey
from .tokens import TokenLabel

__all__ = [
    "blind_upload",
    "check_upload",
    "evaluate_upload",
    "match_positions",
]


def blind_upload(key: EpochKey, hash_to_group: Callable[[bytes], bytes],
                 messages: Sequence[bytes]) -> tuple[list[bytes], list[int]]:
    """Blinded elements sorted by encoding, and each one's item index.

    ``messages`` are distinct canonical messages of one kind.
    """
    blinded = [key.multiply(hash_to_group(m)) for m in messages]
    order = sorted(range(len(blinded)), key=blinded.__getitem__)

    return [blinded[i] for i in order], order


def check_upload(elements: Iterable[bytes]) -> None:
    """Every element valid, and strictly ascending (so no repeats)."""
    previous = b""
    for element in elements:
        group.validate_element(element)
        if element <= previous:
            raise InvalidElement("upload is not sorted or repeats an element")
        previous = element


def evaluate_upload(key: EpochKey, label: TokenLabel,
                    elements: Sequence[bytes]) -> list[bytes]:
    """Pair-labelled tokens of ``key · C`` for each C, in the given order.

    Raw double-blinded points never leave this function.
    """
    check_upload(elements)

    return [label.token(key.multiply(c)) for c in elements]


def match_positions(received: Iterable[bytes],
                    own_table: Collection[bytes]) -> list[int]:
    """Positions of the owner's upload whose token the peer also holds."""
    return [i for i, token in enumerate(received) if token in own_table]
