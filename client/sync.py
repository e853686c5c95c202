"""One lab's sync: upload, evaluate peers, collect matches, write output.

A pass does all the work available at that moment, in this order, for
every match kind the consortium enables:

1. blind the lab's own canonical items (cached in the lab state) and
   upload them unless the coordinator already holds that exact upload;
2. for each peer upload present, compute the pair-labelled tokens over it
   (cached), and unless the coordinator says this lab has already done so,
   seal them to the peer and submit them;
3. for each pair the escrow has released, fetch the peer's sealed tokens
   over this lab's upload, open them and match them against this lab's
   own tokens over the peer's upload.

With ``wait`` the engine repeats passes every POLL_SECONDS until every
pair and kind is complete or the time runs out. The coordinator is asked,
every pass, what has been uploaded and evaluated; the local state only
saves crypto work.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from nacl.public import PrivateKey

from labmatch._proto import coordinator_pb2 as pb
from labmatch.psi.errors import InvalidElement, LabmatchError, SealError
from labmatch.psi.hashing import PROTOCOL_VERSION, SUITE, HashToGroup
from labmatch.psi.identifiers import match_kinds
from labmatch.psi.keys import EpochKey
from labmatch.psi.manifest import (
    ELEMENTS_PER_CHUNK,
    MAX_UPLOAD_ELEMENTS,
    EvaluationDigest,
    UploadDigest,
    chunk_elements,
    split_elements,
)
from labmatch.psi.rounds import blind_upload, evaluate_upload, match_positions
from labmatch.psi.sealing import TokenListOpener, list_context, seal_tokens
from labmatch.psi.tokens import TokenLabel

from .inputs import InputRow
from .outputs import MatchRow
from .progress import Progress
from .state import CachedUpload, LabState
from .transport import CoordinatorClient

__all__ = ["SyncError", "KindItems", "SyncEngine", "POLL_SECONDS"]

log = logging.getLogger("labmatch.client.sync")

POLL_SECONDS = 3.0
HASH_BATCH = 4096


class SyncError(LabmatchError):
    """The sync cannot go on (for example, the input changed mid-epoch)."""


@dataclass
class KindItems:
    """The distinct canonical items of one match kind, and who wrote them."""

    kind: str
    messages: list[bytes] = field(default_factory=list)
    rows: list[list[int]] = field(default_factory=list)  # item -> row ids
    levels: list[str] = field(default_factory=list)
    _index: dict[bytes, int] = field(default_factory=dict, repr=False)

    def add(self, message: bytes, level: str, row_id: int) -> None:
        index = self._index.get(message)
        if index is None:
            index = self._index[message] = len(self.messages)
            self.messages.append(message)
            self.rows.append([])
            self.levels.append(level)
        self.rows[index].append(row_id)

    def digest(self) -> bytes:
        """Local fingerprint of the item set (never leaves the lab)."""
        h = hashlib.sha256(self.kind.encode() + b"\x00")
        for message in sorted(self.messages):
            h.update(len(message).to_bytes(2, "big") + message)
        return h.digest()


def group_items(rows: Sequence[InputRow],
                kinds: Sequence[str]) -> dict[str, KindItems]:
    """Dedupe the rows' items per match kind, keeping every row id."""
    out = {kind: KindItems(kind) for kind in kinds}
    for row_id, row in enumerate(rows):
        for item in row.items:
            if item.kind in out:
                out[item.kind].add(item.message, item.level, row_id)
    return out


@dataclass
class PairState:
    """What this lab knows about one (kind, peer) in the current pass."""

    complete: bool = False
    matched_items: set[int] = field(default_factory=set)
    problem: str = ""


class SyncEngine:
    def __init__(self, *, lab: str, consortium, sealing_key: PrivateKey,
                 state: LabState, client: CoordinatorClient, epoch: str,
                 progress: Progress) -> None:
        self.lab = lab
        self.consortium = consortium
        self.peers = consortium.peers(lab)
        self.kinds = match_kinds(consortium.kinds)
        self._sealing_key = sealing_key
        self._state = state
        self._client = client
        self.epoch = epoch
        self._progress = progress
        self._seed = state.seed()
        self.uploads: dict[str, CachedUpload] = {}
        self.pairs: dict[tuple[str, str], PairState] = {
            (kind, peer): PairState()
            for kind in self.kinds for peer in self.peers}

    def _key(self, kind: str) -> EpochKey:
        return EpochKey.derive(
            self._seed, consortium_id=self.consortium.consortium_id,
            lab=self.lab, epoch=self.epoch, kind=kind)

    def _label(self, kind: str, peer: str) -> TokenLabel:
        return TokenLabel(consortium_id=self.consortium.consortium_id,
                          lab_a=self.lab, lab_b=peer, epoch=self.epoch,
                          kind=kind)

    # -- step 0: this lab's blinded uploads -----------------------------

    def prepare(self, items: dict[str, KindItems]) -> None:
        """Blind each kind's items, or take them from the cache."""
        for kind in self.kinds:
            kind_items = items[kind]
            if len(kind_items.messages) > MAX_UPLOAD_ELEMENTS:
                raise SyncError(
                    f"{len(kind_items.messages)} distinct {kind} items is "
                    f"over the limit of {MAX_UPLOAD_ELEMENTS} per epoch")
            digest = kind_items.digest()
            cached = self._state.upload(self.epoch, kind)
            if cached is not None and cached.items_digest != digest:
                raise SyncError(
                    f"the {kind} items differ from those this lab already "
                    f"synced in epoch {self.epoch}; incremental syncs are "
                    f"not supported yet (use the same input, or a new "
                    f"epoch)")
            if cached is None:
                cached = self._blind(kind, kind_items, digest)
                self._state.save_upload(self.epoch, kind, cached)
            self.uploads[kind] = cached

    def _blind(self, kind: str, kind_items: KindItems,
               items_digest: bytes) -> CachedUpload:
        key = self._key(kind)
        h2g = HashToGroup(self.consortium.consortium_id, kind)
        total = len(kind_items.messages)
        hashed: list[bytes] = []
        for start in range(0, total, HASH_BATCH):
            batch = kind_items.messages[start:start + HASH_BATCH]
            hashed.extend(h2g(m) for m in batch)
            self._progress.update(f"blinding {kind}", len(hashed), total)
        elements, order = blind_upload(key, lambda e: e, hashed)
        digest = UploadDigest(
            consortium_id=self.consortium.consortium_id, epoch=self.epoch,
            kind=kind, owner=self.lab, count=total)
        for chunk in split_elements(elements):
            digest.update(chunk)

        return CachedUpload(items_digest, digest.digest(), elements, order)

    # -- a pass ---------------------------------------------------------

    async def run_pass(self) -> None:
        status = await self._client.round(self.epoch)
        for kind_status in status.kinds:
            if kind_status.kind in self.uploads:
                await self._ensure_uploaded(kind_status)
        for kind_status in status.kinds:
            for peer_status in kind_status.peers:
                await self._evaluate_peer(kind_status.kind, peer_status)
        status = await self._client.round(self.epoch)
        for kind_status in status.kinds:
            for peer_status in kind_status.peers:
                await self._collect(kind_status, peer_status)

    def complete(self) -> bool:
        return all(p.complete for p in self.pairs.values())

    async def _ensure_uploaded(self, ks: pb.KindStatus) -> None:
        up = self.uploads[ks.kind]
        if ks.HasField("own_upload"):
            if ks.own_upload.digest != up.upload_digest:
                raise SyncError(
                    f"the coordinator holds a different {ks.kind} upload "
                    f"from this lab for epoch {self.epoch}; changing the "
                    f"input within an epoch is not supported yet")
            return
        manifest = pb.UploadManifest(
            version=PROTOCOL_VERSION, suite=SUITE, epoch=self.epoch,
            kind=ks.kind, count=len(up.elements),
            chunk_count=-(-len(up.elements) // ELEMENTS_PER_CHUNK),
            digest=up.upload_digest)
        self._progress.note(f"uploading {ks.kind}: {len(up.elements)} items")
        await self._client.upload(manifest, split_elements(up.elements))

    # -- evaluating a peer's upload -------------------------------------

    async def _evaluate_peer(self, kind: str, ps: pb.PeerStatus) -> None:
        if not ps.HasField("upload"):
            return
        pair = self.pairs[(kind, ps.peer)]
        tokens = await self._table(kind, ps.peer, ps.upload, pair)
        if tokens is None or ps.evaluated_by_me:
            return
        await self._submit(kind, ps.peer, ps.upload, tokens)

    async def _table(self, kind: str, peer: str,
                     upload: pb.UploadManifest,
                     pair: PairState) -> list[bytes] | None:
        """This lab's tokens over the peer's upload (cached)."""
        cached = self._state.table(self.epoch, kind, peer, upload.digest)
        if cached is not None:
            return cached
        try:
            elements = await self._download(kind, peer, upload)
            self._progress.note(
                f"evaluating {peer}'s {kind}: {len(elements)} items")
            tokens = evaluate_upload(self._key(kind),
                                     self._label(kind, peer), elements)
        except InvalidElement:
            pair.problem = (f"refused {peer}'s {kind} upload: it holds "
                            f"invalid, repeated or unsorted elements")
            log.warning("evaluate.refused peer=%s kind=%s", peer, kind)
            return None
        self._state.save_table(self.epoch, kind, peer, upload.digest, tokens)

        return tokens

    async def _download(self, kind: str, peer: str,
                        expected: pb.UploadManifest) -> list[bytes]:
        digest = UploadDigest(
            consortium_id=self.consortium.consortium_id, epoch=self.epoch,
            kind=kind, owner=peer, count=expected.count)
        elements: list[bytes] = []
        manifest = None
        async for part in self._client.download_upload(
                self.epoch, kind, peer):
            if manifest is None:
                manifest = part.manifest
                if (manifest.digest != expected.digest
                        or manifest.owner != peer):
                    raise InvalidElement("upload manifest mismatch")
                continue
            digest.update(part.chunk.elements)
            elements.extend(chunk_elements(part.chunk.elements))
            if len(elements) > expected.count:
                raise InvalidElement("upload longer than its manifest")
        if (len(elements) != expected.count
                or digest.digest() != expected.digest):
            raise InvalidElement("upload does not match its digest")

        return elements

    async def _submit(self, kind: str, peer: str,
                      upload: pb.UploadManifest, tokens: list[bytes]) -> None:
        context = list_context(
            consortium_id=self.consortium.consortium_id, epoch=self.epoch,
            kind=kind, evaluator=self.lab, owner=peer,
            upload_digest=upload.digest, count=len(tokens))
        sealed = seal_tokens(
            self.consortium.labs[peer].sealing_key, context, tokens)
        chunks = list(sealed.chunks)
        digest = EvaluationDigest(context, sealed.sealed_key, sealed.header)
        for chunk in chunks:
            digest.update(chunk)
        manifest = pb.EvaluationManifest(
            version=PROTOCOL_VERSION, suite=SUITE, epoch=self.epoch,
            kind=kind, owner=peer, upload_digest=upload.digest,
            count=len(tokens), chunk_count=sealed.chunk_count,
            sealed_key=sealed.sealed_key, stream_header=sealed.header,
            digest=digest.digest())
        await self._client.submit_evaluation(manifest, chunks)

    # -- collecting released evaluations --------------------------------

    async def _collect(self, ks: pb.KindStatus, ps: pb.PeerStatus) -> None:
        kind, peer = ks.kind, ps.peer
        pair = self.pairs[(kind, peer)]
        if pair.complete or not ps.released or not ps.HasField("upload"):
            return
        own = self.uploads[kind]
        positions = self._state.result(self.epoch, kind, peer,
                                       own.upload_digest, ps.upload.digest)
        if positions is None:
            table = self._state.table(self.epoch, kind, peer,
                                      ps.upload.digest)
            if table is None:
                return
            try:
                received = await self._fetch(kind, peer, own)
            except SealError:
                pair.problem = (f"{peer}'s sealed {kind} token list did not "
                                f"open or did not match this lab's upload")
                log.warning("collect.refused peer=%s kind=%s", peer, kind)
                return
            positions = match_positions(received, set(table))
            self._state.save_result(self.epoch, kind, peer,
                                    own.upload_digest, ps.upload.digest,
                                    positions)
        pair.matched_items = {own.order[p] for p in positions}
        pair.complete = True
        pair.problem = ""

    async def _fetch(self, kind: str, peer: str,
                     own: CachedUpload) -> list[bytes]:
        count = len(own.elements)
        context = list_context(
            consortium_id=self.consortium.consortium_id, epoch=self.epoch,
            kind=kind, evaluator=peer, owner=self.lab,
            upload_digest=own.upload_digest, count=count)
        opener = None
        received: list[bytes] = []
        async for part in self._client.fetch_evaluation(
                self.epoch, kind, peer):
            if opener is None:
                m = part.manifest
                if (m.upload_digest != own.upload_digest or m.count != count
                        or m.evaluator != peer or m.owner != self.lab):
                    raise SealError("sealed token list does not open")
                opener = TokenListOpener(self._sealing_key, context,
                                         m.sealed_key, m.stream_header,
                                         count=count)
                continue
            received.extend(opener.open_chunk(part.chunk.ciphertext))
            if len(received) > count:
                raise SealError("sealed token list does not open")
        if opener is None or len(received) != count:
            raise SealError("sealed token list does not open")
        opener.finish()

        return received

    # -- results --------------------------------------------------------

    def match_rows(self, rows: Sequence[InputRow],
                   items: dict[str, KindItems]) -> list[MatchRow]:
        """One row per input row and level where some peer holds it."""
        peers_of: dict[tuple[int, str], set[str]] = defaultdict(set)
        for (kind, peer), pair in self.pairs.items():
            kind_items = items[kind]
            for index in pair.matched_items:
                level = kind_items.levels[index]
                for row_id in kind_items.rows[index]:
                    peers_of[(row_id, level)].add(peer)
        out = []
        for (row_id, level) in sorted(peers_of, key=_row_level_order):
            row = rows[row_id]
            out.append(MatchRow(row.kind, row.value, row.ref, level,
                                tuple(sorted(peers_of[(row_id, level)]))))
        return out

    def summary_counts(self) -> dict[str, object]:
        by_peer: dict[str, Counter] = {p: Counter() for p in self.peers}
        problems = []
        for (kind, peer), pair in sorted(self.pairs.items()):
            by_peer[peer]["complete" if pair.complete else "incomplete"] += 1
            if pair.problem:
                problems.append(pair.problem)
        return {"by_peer": by_peer, "problems": problems}


LEVEL_ORDER = {"exact": 0}


def _row_level_order(key: tuple[int, str]) -> tuple[int, int, str]:
    row_id, level = key
    return (row_id, LEVEL_ORDER.get(level, 1), level)


async def run_passes(engine: SyncEngine, wait: float | None) -> None:
    """One pass, or passes until complete or ``wait`` seconds are up."""
    deadline = time.monotonic() + (wait or 0)
    while True:
        await engine.run_pass()
        if engine.complete() or wait is None:
            return
        if time.monotonic() + POLL_SECONDS > deadline:
            return
        await asyncio.sleep(POLL_SECONDS)
