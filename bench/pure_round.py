"""The pure core round for two labs, timed in CPU seconds (shared by the
benchmarks in this folder; not a benchmark itself)."""
from __future__ import annotations

import time

from nacl.public import PrivateKey

from labmatch.psi.hashing import HashToGroup
from labmatch.psi.keys import EpochKey
from labmatch.psi.rounds import blind_upload, evaluate_upload, match_positions
from labmatch.psi.sealing import TokenListOpener, list_context, seal_tokens
from labmatch.psi.tokens import TokenLabel

CID = "0123456789abcdef"
EPOCH = "2026-12-04"


def pure_round(messages_a: list[bytes], messages_b: list[bytes],
               kind: str) -> tuple[float, int]:
    """(CPU seconds, matches) for: blind both sets, evaluate both ways,
    seal B's tokens to A, open them, match. The tokens A computes over
    B's set are what A returns to B, so both sides learn for this cost.
    """
    h2g = HashToGroup(CID, kind)
    ka = EpochKey.derive(bytes(32), consortium_id=CID, lab="a",
                         epoch=EPOCH, kind=kind)
    kb = EpochKey.derive(bytes([1]) * 32, consortium_id=CID, lab="b",
                         epoch=EPOCH, kind=kind)
    label = TokenLabel(consortium_id=CID, lab_a="a", lab_b="b", epoch=EPOCH,
                       kind=kind)
    sealing = PrivateKey.generate()
    started = time.process_time()
    up_a, _ = blind_upload(ka, h2g, messages_a)
    up_b, _ = blind_upload(kb, h2g, messages_b)
    for_a = evaluate_upload(kb, label, up_a)
    table_a = evaluate_upload(ka, label, up_b)
    context = list_context(consortium_id=CID, epoch=EPOCH, kind=kind,
                           evaluator="b", owner="a",
                           upload_digest=bytes(32), count=len(for_a))
    sealed = seal_tokens(bytes(sealing.public_key), context, for_a)
    opener = TokenListOpener(sealing, context, sealed.sealed_key,
                             sealed.header, count=len(for_a))
    received: list[bytes] = []
    for chunk in sealed.chunks:
        received += opener.open_chunk(chunk)
    opener.finish()
    found = match_positions(received, set(table_a))

    return time.process_time() - started, len(found)
