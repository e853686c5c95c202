"""The lab's crypto work spread over worker processes.

Blinding (hash-to-group and one scalar multiplication per item) and
evaluating a peer's upload (validation, one multiplication and one hash
per element) are embarrassingly parallel. Sets of at least
PARALLEL_MIN_ITEMS are cut into slices of SLICE_ITEMS and sent to a pool
of ``workers`` processes (default: one per CPU); smaller sets stay in
this process, where starting workers would cost more than it saves.

Workers are started with the ``spawn`` method (a fresh interpreter, no
copy of this process's gRPC threads or open files). Each slice carries
the lab's seed, so the worker derives the same epoch key; the seed never
leaves this machine. Results come back in slice order, so the output is
the same bytes whatever the number of workers.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from labmatch.psi.errors import InvalidElement
from labmatch.psi.hashing import HashToGroup
from labmatch.psi.keys import EpochKey
from labmatch.psi.rounds import evaluate_upload
from labmatch.psi.tokens import TokenLabel

__all__ = ["PARALLEL_MIN_ITEMS", "SLICE_ITEMS", "Crypto"]

PARALLEL_MIN_ITEMS = 20_000
SLICE_ITEMS = 8_192


def _blind_slice(seed: bytes, cid: str, lab: str, epoch: str, kind: str,
                 messages: Sequence[bytes]) -> list[bytes]:
    key = EpochKey.derive(seed, consortium_id=cid, lab=lab, epoch=epoch,
                          kind=kind)
    h2g = HashToGroup(cid, kind)
    return [key.multiply(h2g(m)) for m in messages]


def _evaluate_slice(seed: bytes, cid: str, lab: str, peer: str, epoch: str,
                    kind: str, elements: Sequence[bytes]) -> list[bytes]:
    key = EpochKey.derive(seed, consortium_id=cid, lab=lab, epoch=epoch,
                          kind=kind)
    label = TokenLabel(consortium_id=cid, lab_a=lab, lab_b=peer,
                       epoch=epoch, kind=kind)
    return evaluate_upload(key, label, elements)


class Crypto:
    """Blind and evaluate for one lab, in-process or on workers."""

    def __init__(self, seed: bytes, *, consortium_id: str, lab: str,
                 epoch: str, workers: int | None = None) -> None:
        self._seed = seed
        self._cid = consortium_id
        self._lab = lab
        self._epoch = epoch
        if workers is not None and workers < 1:
            raise ValueError("workers must be 1 or more")
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Crypto:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def blind(self, kind: str, messages: Sequence[bytes],
              progress: Callable[[int, int], None]) -> list[bytes]:
        """``k·H(m)`` for each message, in order."""
        return self._run(_blind_slice, (kind,), messages, progress)

    def evaluate(self, kind: str, peer: str, elements: Sequence[bytes],
                 progress: Callable[[int, int], None]) -> list[bytes]:
        """Pair-labelled tokens over a peer's sorted upload, in order.

        Slices are checked one by one; the order across slice boundaries
        is checked here, so the whole upload must be strictly ascending.
        """
        for left, right in zip(range(SLICE_ITEMS - 1, len(elements),
                                     SLICE_ITEMS),
                               range(SLICE_ITEMS, len(elements),
                                     SLICE_ITEMS)):
            if elements[left] >= elements[right]:
                raise InvalidElement(
                    "upload is not sorted or repeats an element")
        return self._run(_evaluate_slice, (peer, kind), elements, progress,
                         kind_last=True)

    def _run(self, work, args: tuple, items: Sequence[bytes], progress,
             kind_last: bool = False) -> list[bytes]:
        base = (self._seed, self._cid, self._lab)
        if kind_last:
            peer, kind = args
            head = base + (peer, self._epoch, kind)
        else:
            (kind,) = args
            head = base + (self._epoch, kind)
        slices = [items[i:i + SLICE_ITEMS]
                  for i in range(0, len(items), SLICE_ITEMS)]
        out: list[bytes] = []
        if len(items) < PARALLEL_MIN_ITEMS or self.workers == 1:
            for piece in slices:
                out.extend(work(*head, piece))
                progress(len(out), len(items))
            return out
        for result in self._executor().map(
                work, *zip(*[head + (piece,) for piece in slices])):
            out.extend(result)
            progress(len(out), len(items))
        return out

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"))
        return self._pool
