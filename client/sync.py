"""One lab's sync: commit, upload, evaluate peers, collect matches.

A pass does all the work available at that moment, for every match kind
the consortium enables:

1. publish this lab's signed key commitment (``k·G``) for the kind;
2. blind the lab's canonical items, pad them to a size class, sort, and
   upload them with a signed manifest (chunk digests, Merkle root, the
   commitment's digest) unless the coordinator already holds that upload;
   an interrupted upload resumes from the chunks the coordinator lacks;
3. for each peer upload present, verify the peer's signed commitment and
   manifest with the peer's pinned key, check the size against the
   budget, download and check every chunk, compute the pair-labelled
   tokens over it (cached), and unless already done, seal them to the
   peer and submit them with a signed manifest;
4. for each pair the escrow has released, fetch the peer's sealed tokens
   over this lab's upload, verify the peer's signed manifest, open the
   list and match it against this lab's own tokens over the peer's
   upload; padding positions never count.

Anything a peer sent that fails a check is refused for that pair only,
with a reason a human can act on (``PairState.problem``); the rest of
the sync goes on. With ``wait`` the engine repeats passes every
POLL_SECONDS until every pair and kind is complete or time runs out.
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
from nacl.signing import SigningKey

from labmatch import wire
from labmatch._proto import coordinator_pb2 as pb
from labmatch.psi.errors import InvalidElement, LabmatchError, SealError
from labmatch.psi.keys import EpochKey
from labmatch.psi.manifest import (
    ELEMENTS_PER_CHUNK,
    MAX_UPLOAD_ELEMENTS,
    chunk_elements,
    split_elements,
)
from labmatch.psi.merkle import merkle_root
from labmatch.psi.padding import padded_size, padding_elements
from labmatch.psi.rounds import match_positions
from labmatch.psi.sealing import TokenListOpener, list_context, seal_tokens

from .inputs import InputRow
from .outputs import MatchRow
from .parallel import Crypto
from .progress import Progress
from .state import PADDING, CachedUpload, LabState
from .transport import CoordinatorClient, CoordinatorError

__all__ = ["SyncError", "KindItems", "SyncEngine", "POLL_SECONDS",
           "group_items", "run_passes"]

log = logging.getLogger("labmatch.client.sync")

POLL_SECONDS = 3.0
UPLOAD_ATTEMPTS = 3


class SyncError(LabmatchError):
    """The sync cannot go on (for example, the input changed mid-epoch)."""


class PeerRefused(LabmatchError):
    """Something a peer sent failed a check; the pair is left incomplete."""


@dataclass
class KindItems:
    """The distinct canonical items of one match kind, and who wrote them."""

    kind: str
    # Canonical identifiers: never in a repr.
    messages: list[bytes] = field(default_factory=list, repr=False)
    rows: list[list[int]] = field(default_factory=list, repr=False)
    levels: list[str] = field(default_factory=list, repr=False)
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
    matched_items: set[int] = field(default_factory=set, repr=False)
    problem: str = ""


def _idempotency_key(signed: pb.SignedMessage) -> str:
    return hashlib.sha256(signed.payload).hexdigest()[:32]


class SyncEngine:
    def __init__(self, *, lab: str, consortium, signing_key: SigningKey,
                 sealing_key: PrivateKey, state: LabState,
                 client: CoordinatorClient, epoch: str,
                 progress: Progress, kinds: Sequence[str],
                 crypto: Crypto | None = None) -> None:
        self.lab = lab
        self.consortium = consortium
        self.peers = consortium.peers(lab)
        self.kinds = tuple(kinds)
        self._signing_key = signing_key
        self._sealing_key = sealing_key
        self._state = state
        self._client = client
        self.epoch = epoch
        self._progress = progress
        self._seed = state.seed()
        self._crypto = crypto or Crypto(
            self._seed, consortium_id=consortium.consortium_id, lab=lab,
            epoch=epoch, workers=1)
        self.uploads: dict[str, CachedUpload] = {}
        self.unknown_peers: set[str] = set()
        self.pairs: dict[tuple[str, str], PairState] = {
            (kind, peer): PairState()
            for kind in self.kinds for peer in self.peers}

    @property
    def _cid(self) -> str:
        return self.consortium.consortium_id

    def _key(self, kind: str) -> EpochKey:
        return EpochKey.derive(self._seed, consortium_id=self._cid,
                               lab=self.lab, epoch=self.epoch, kind=kind)

    def _header(self, kind: str, recipient: str = "") -> pb.Header:
        return wire.new_header(consortium_id=self._cid, sender=self.lab,
                               epoch=self.epoch, kind=kind,
                               recipient=recipient)

    def _expect(self, kind: str, sender: str, recipient: str):
        return wire.Expect(self._cid, epoch=self.epoch, kind=kind,
                           sender=sender, recipient=recipient)

    # -- step 0: this lab's blinded, padded uploads ---------------------

    def prepare(self, items: dict[str, KindItems]) -> None:
        """Blind each kind's items, or take them from the cache."""
        for kind in self.kinds:
            kind_items = items[kind]
            self._check_size(kind, len(kind_items.messages))
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

    def _check_size(self, kind: str, count: int) -> None:
        """Refuse, before any work, a set no peer would evaluate."""
        padded = padded_size(count)
        cap = min(MAX_UPLOAD_ELEMENTS, self.consortium.budget(kind))
        if padded > cap:
            raise SyncError(
                f"{count} distinct {kind} items (padded to {padded}) are "
                f"over the {cap} a peer evaluates per epoch for this kind; "
                f"split the input across epochs, or ask the consortium "
                f"operator to raise [budgets] for {kind}")

    def _blind(self, kind: str, kind_items: KindItems,
               items_digest: bytes) -> CachedUpload:
        total = len(kind_items.messages)
        blinded = self._crypto.blind(
            kind, kind_items.messages,
            lambda done, n: self._progress.update(f"blinding {kind}", done, n))
        padding = padding_elements(
            self._seed, consortium_id=self._cid, lab=self.lab,
            epoch=self.epoch, kind=kind, count=padded_size(total) - total)
        everything = blinded + padding
        order = sorted(range(len(everything)), key=everything.__getitem__)
        elements = [everything[i] for i in order]
        order = [i if i < total else PADDING for i in order]
        digests = [hashlib.sha256(c).digest()
                   for c in split_elements(elements)]

        return CachedUpload(items_digest, merkle_root(digests), elements,
                            order)

    # -- a pass ---------------------------------------------------------

    async def run_pass(self) -> None:
        status = await self._client.round(self.epoch)
        for ks in status.kinds:
            if ks.kind in self.uploads:
                await self._ensure_committed(ks)
        status = await self._client.round(self.epoch)
        for ks in status.kinds:
            if ks.kind in self.uploads:
                await self._ensure_uploaded(ks)
        for ks in status.kinds:
            if ks.kind not in self.uploads:
                continue
            for ps in self._known_peers(ks):
                await self._for_pair(ks.kind, ps.peer, self._evaluate_peer,
                                     ks, ps)
        status = await self._client.round(self.epoch)
        for ks in status.kinds:
            if ks.kind not in self.uploads:
                continue
            for ps in self._known_peers(ks):
                await self._for_pair(ks.kind, ps.peer, self._collect, ks, ps)

    def _known_peers(self, ks: pb.KindStatus) -> list[pb.PeerStatus]:
        """Peers this lab's consortium file pins; others are reported."""
        known = [ps for ps in ks.peers if ps.peer in self.consortium.labs]
        unknown = sorted({ps.peer for ps in ks.peers} - set(self.peers))
        if unknown:
            self.unknown_peers.update(unknown)
        return known

    async def _for_pair(self, kind: str, peer: str, work, *args) -> None:
        pair = self.pairs[(kind, peer)]
        try:
            await work(*args)
        except PeerRefused as exc:
            pair.problem = str(exc)
            log.warning("pair.refused peer=%s kind=%s", peer, kind)

    def complete(self) -> bool:
        """Every (kind, peer) matched, and no member this lab cannot pair
        with for want of its pinned keys."""
        return not self.unknown_peers and all(
            p.complete for p in self.pairs.values())

    # -- key commitment -------------------------------------------------

    async def _ensure_committed(self, ks: pb.KindStatus) -> None:
        public_key = self._key(ks.kind).public_key()
        if ks.HasField("own_key_commit"):
            own = pb.KeyCommit.FromString(ks.own_key_commit.payload)
            if own.public_key != public_key:
                raise SyncError(f"the coordinator holds another key "
                                f"commitment of this lab for {ks.kind}")
            return
        commit = pb.KeyCommit(header=self._header(ks.kind),
                              public_key=public_key)
        signed = wire.sign_message(self._signing_key, commit)
        await self._client.publish_key_commit(signed,
                                              _idempotency_key(signed))

    # -- upload ---------------------------------------------------------

    async def _ensure_uploaded(self, ks: pb.KindStatus) -> None:
        up = self.uploads[ks.kind]
        if ks.HasField("own_upload"):
            own = pb.UploadManifest.FromString(ks.own_upload.payload)
            if own.merkle_root != up.merkle_root:
                raise SyncError(
                    f"the coordinator holds a different {ks.kind} upload "
                    f"from this lab for epoch {self.epoch}; changing the "
                    f"input within an epoch is not supported yet")
            return
        signed, resumed = self._upload_manifest(ks, up)
        chunks = split_elements(up.elements)
        todo = list(range(len(chunks)))
        if resumed and len(chunks) > 1:
            # Ask what the coordinator already holds of this manifest.
            receipt = await self._client.upload(
                signed, _idempotency_key(signed), (), ks.kind)
            if receipt.complete:
                return
            todo = list(receipt.missing)
        self._progress.note(f"uploading {ks.kind}: {len(up.elements)} "
                            f"elements (padded), {len(todo)} of "
                            f"{len(chunks)} chunks to send")
        for _ in range(UPLOAD_ATTEMPTS):
            receipt = await self._client.upload(
                signed, _idempotency_key(signed),
                ((i, chunks[i]) for i in todo), ks.kind)
            if receipt.complete:
                return
            todo = list(receipt.missing)
        raise SyncError(f"upload of {ks.kind} still misses chunks after "
                        f"{UPLOAD_ATTEMPTS} attempts")

    def _upload_manifest(self, ks: pb.KindStatus, up: CachedUpload,
                         ) -> tuple[pb.SignedMessage, bool]:
        """The cached signed manifest if still valid (so an interrupted
        upload resumes), else a new one; and whether it was cached."""
        commit_digest = wire.payload_digest(ks.own_key_commit)
        if up.signed_manifest:
            cached = pb.SignedMessage.FromString(up.signed_manifest)
            try:
                m = wire.open_message(
                    cached, pb.UploadManifest,
                    bytes(self._signing_key.verify_key),
                    self._expect(ks.kind, self.lab, ""))
                if (m.merkle_root == up.merkle_root
                        and m.key_commit_digest == commit_digest):
                    return cached, True
            except wire.WireError:
                pass
        chunks = split_elements(up.elements)
        digests = [hashlib.sha256(c).digest() for c in chunks]
        manifest = pb.UploadManifest(
            header=self._header(ks.kind), count=len(up.elements),
            chunk_count=len(chunks), chunk_digests=digests,
            merkle_root=up.merkle_root, key_commit_digest=commit_digest)
        signed = wire.sign_message(self._signing_key, manifest)
        self._state.save_signed_manifest(
            self.epoch, ks.kind, signed.SerializeToString())

        return signed, False

    # -- evaluating a peer's upload -------------------------------------

    def _peer_manifest(self, kind: str, ps: pb.PeerStatus):
        """The peer's verified upload manifest, or PeerRefused."""
        peer = ps.peer
        keys = self.consortium.labs[peer]
        expect = self._expect(kind, peer, "")
        if not ps.HasField("key_commit"):
            raise PeerRefused(f"refused {peer}'s {kind} upload: no key "
                              f"commitment was published")
        try:
            wire.open_message(ps.key_commit, pb.KeyCommit,
                              keys.signing_key, expect)
            m = wire.open_message(ps.upload, pb.UploadManifest,
                                  keys.signing_key, expect)
        except wire.WireError as exc:
            raise PeerRefused(f"refused {peer}'s {kind} upload: {exc}") \
                from None
        if m.key_commit_digest != wire.payload_digest(ps.key_commit):
            raise PeerRefused(f"refused {peer}'s {kind} upload: it cites "
                              f"another key commitment")
        budget = self.consortium.budget(kind)
        if m.count > budget:
            raise PeerRefused(
                f"refused {peer}'s {kind} upload: {m.count} items is over "
                f"the budget of {budget} per peer per epoch")
        if (len(m.chunk_digests) != m.chunk_count
                or merkle_root(list(m.chunk_digests)) != m.merkle_root):
            raise PeerRefused(f"refused {peer}'s {kind} upload: its chunk "
                              f"digests do not match its Merkle root")
        return m

    async def _evaluate_peer(self, ks: pb.KindStatus,
                             ps: pb.PeerStatus) -> None:
        if not ps.HasField("upload"):
            return
        kind, peer = ks.kind, ps.peer
        m = self._peer_manifest(kind, ps)
        tokens = await self._table(kind, peer, m, ps.upload)
        if not ps.evaluated_by_me:
            await self._submit(kind, peer, wire.payload_digest(ps.upload),
                               tokens)

    async def _table(self, kind: str, peer: str, m: pb.UploadManifest,
                     signed: pb.SignedMessage) -> list[bytes]:
        """This lab's tokens over the peer's upload (cached).

        Cached by the upload's Merkle root, i.e. by its content: the same
        set re-signed (say, for a fresh coordinator) reuses the work.
        """
        cached = self._state.table(self.epoch, kind, peer, m.merkle_root)
        if cached is not None:
            return cached
        if self._state.table_roots(self.epoch, kind, peer):
            raise PeerRefused(
                f"refused {peer}'s second, different {kind} upload in "
                f"epoch {self.epoch}: one upload per peer per epoch is "
                f"evaluated (budget)")
        elements = await self._download(kind, peer, m, signed)
        self._progress.note(f"evaluating {peer}'s {kind}: "
                            f"{len(elements)} elements")
        try:
            tokens = self._crypto.evaluate(
                kind, peer, elements,
                lambda done, n: self._progress.update(
                    f"evaluating {peer}'s {kind}", done, n))
        except InvalidElement:
            raise PeerRefused(f"refused {peer}'s {kind} upload: it holds "
                              f"invalid, repeated or unsorted elements") \
                from None
        self._state.save_table(self.epoch, kind, peer, m.merkle_root,
                               tokens)

        return tokens

    async def _download(self, kind: str, peer: str, m: pb.UploadManifest,
                        signed: pb.SignedMessage) -> list[bytes]:
        elements: list[bytes] = []
        index = -1
        async for part in self._client.download_upload(
                self.epoch, kind, peer):
            if index < 0:
                if part.manifest != signed:
                    raise PeerRefused(f"refused {peer}'s {kind} upload: the "
                                      f"download's manifest differs")
                index = 0
                continue
            chunk = part.chunk
            if (chunk.index != index or index >= m.chunk_count
                    or hashlib.sha256(chunk.data).digest()
                    != m.chunk_digests[index]):
                raise PeerRefused(f"refused {peer}'s {kind} upload: chunk "
                                  f"{index} does not match the signed "
                                  f"manifest")
            try:
                elements.extend(chunk_elements(chunk.data))
            except ValueError:
                raise PeerRefused(f"refused {peer}'s {kind} upload: chunk "
                                  f"{index} is ragged") from None
            index += 1
        if index != m.chunk_count or len(elements) != m.count:
            raise PeerRefused(f"refused {peer}'s {kind} upload: truncated")

        return elements

    async def _submit(self, kind: str, peer: str, upload_digest: bytes,
                      tokens: list[bytes]) -> None:
        context = list_context(
            consortium_id=self._cid, epoch=self.epoch, kind=kind,
            evaluator=self.lab, owner=peer, upload_digest=upload_digest,
            count=len(tokens))
        sealed = seal_tokens(self.consortium.labs[peer].sealing_key,
                             context, tokens)
        chunks = list(sealed.chunks)
        digests = [hashlib.sha256(c).digest() for c in chunks]
        manifest = pb.EvaluationManifest(
            header=self._header(kind, recipient=peer),
            upload_digest=upload_digest, count=len(tokens),
            chunk_count=sealed.chunk_count, chunk_digests=digests,
            merkle_root=merkle_root(digests), sealed_key=sealed.sealed_key,
            stream_header=sealed.header)
        signed = wire.sign_message(self._signing_key, manifest)
        await self._client.submit_evaluation(
            signed, _idempotency_key(signed), chunks,
            f"{peer}'s {kind} upload")

    # -- collecting released evaluations --------------------------------

    async def _collect(self, ks: pb.KindStatus, ps: pb.PeerStatus) -> None:
        kind, peer = ks.kind, ps.peer
        pair = self.pairs[(kind, peer)]
        if pair.complete or not ps.released or not ps.HasField("upload"):
            return
        own = self.uploads[kind]
        peer_root = pb.UploadManifest.FromString(
            ps.upload.payload).merkle_root
        positions = self._state.result(self.epoch, kind, peer,
                                       own.merkle_root, peer_root)
        if positions is None:
            table = self._state.table(self.epoch, kind, peer, peer_root)
            if table is None:
                return
            received = await self._fetch(kind, peer, ks.own_upload, own)
            positions = match_positions(received, set(table))
            self._state.save_result(self.epoch, kind, peer, own.merkle_root,
                                    peer_root, positions)
        pair.matched_items = {own.order[p] for p in positions
                              if own.order[p] != PADDING}
        pair.complete = True
        pair.problem = ""

    async def _fetch(self, kind: str, peer: str,
                     own_signed: pb.SignedMessage,
                     own: CachedUpload) -> list[bytes]:
        count = len(own.elements)
        own_digest = wire.payload_digest(own_signed)
        refused = PeerRefused(f"refused {peer}'s token list for {kind}: it "
                              f"does not verify or does not open")
        opener = m = None
        index = 0
        received: list[bytes] = []
        async for part in self._client.fetch_evaluation(
                self.epoch, kind, peer):
            if m is None:
                try:
                    m = wire.open_message(
                        part.start.manifest, pb.EvaluationManifest,
                        self.consortium.labs[peer].signing_key,
                        self._expect(kind, peer, self.lab))
                except wire.WireError as exc:
                    raise PeerRefused(f"refused {peer}'s token list for "
                                      f"{kind}: {exc}") from None
                if (m.upload_digest != own_digest or m.count != count
                        or len(m.chunk_digests) != m.chunk_count):
                    raise refused
                context = list_context(
                    consortium_id=self._cid, epoch=self.epoch, kind=kind,
                    evaluator=peer, owner=self.lab, upload_digest=own_digest,
                    count=count)
                try:
                    opener = TokenListOpener(self._sealing_key, context,
                                             m.sealed_key, m.stream_header,
                                             count=count)
                except SealError:
                    raise refused from None
                continue
            data = part.chunk.data
            if (part.chunk.index != index or index >= m.chunk_count
                    or hashlib.sha256(data).digest()
                    != m.chunk_digests[index]):
                raise refused
            try:
                received.extend(opener.open_chunk(data))
            except SealError:
                raise refused from None
            index += 1
        try:
            if opener is None:
                raise SealError("nothing received")
            opener.finish()
        except SealError:
            raise refused from None

        return received

    # -- results --------------------------------------------------------

    def match_rows(self, rows: Sequence[InputRow],
                   items: dict[str, KindItems],
                   level_order: Sequence[str] = ("exact",),
                   redacted_kinds: frozenset[str] = frozenset(),
                   ) -> list[MatchRow]:
        """One row per input row and level where some peer holds it."""
        peers_of: dict[tuple[int, str], set[str]] = defaultdict(set)
        for (kind, peer), pair in self.pairs.items():
            kind_items = items[kind]
            for index in pair.matched_items:
                level = kind_items.levels[index]
                for row_id in kind_items.rows[index]:
                    peers_of[(row_id, level)].add(peer)
        rank = {level: i for i, level in enumerate(level_order)}
        out = []
        for row_id, level in sorted(
                peers_of, key=lambda k: (k[0], rank.get(k[1], len(rank)),
                                         k[1])):
            row = rows[row_id]
            value = "" if row.kind.strip().lower() in redacted_kinds \
                else row.value
            out.append(MatchRow(row.kind, value, row.ref, level,
                                tuple(sorted(peers_of[(row_id, level)]))))
        return out

    def summary_counts(self) -> dict[str, object]:
        by_peer: dict[str, Counter] = {p: Counter() for p in self.peers}
        problems = []
        for peer in sorted(self.unknown_peers):
            by_peer[peer] = Counter(incomplete=len(self.kinds))
        if self.unknown_peers:
            problems.append(
                f"the coordinator lists labs this lab's consortium.toml "
                f"does not pin ({', '.join(sorted(self.unknown_peers))}); "
                f"install the operator's current consortium.toml to match "
                f"with them")
        for (kind, peer), pair in sorted(self.pairs.items()):
            by_peer[peer]["complete" if pair.complete else "incomplete"] += 1
            if pair.problem:
                problems.append(pair.problem)
        return {"by_peer": by_peer, "problems": problems}


async def run_passes(engine: SyncEngine, wait: float | None) -> None:
    """One pass, or passes until complete or ``wait`` seconds are up.

    While waiting, a coordinator that is briefly unreachable (restarting,
    say) is retried at the next poll rather than failing the sync.
    """
    deadline = time.monotonic() + (wait or 0)
    while True:
        try:
            await engine.run_pass()
        except CoordinatorError as exc:
            if wait is None or not exc.retryable or (
                    time.monotonic() + POLL_SECONDS > deadline):
                raise
            log.warning("pass.retry code=%s", exc.code.name)
        if engine.complete() or wait is None:
            return
        if time.monotonic() + POLL_SECONDS > deadline:
            return
        await asyncio.sleep(POLL_SECONDS)
