"""The coordinator's round state, as keys in the metadata store.

Keys (inside the store's consortium prefix):

- ``kc/{epoch}/{kind}/{lab}``: a lab's signed key commitment;
- ``up/{epoch}/{kind}/{owner}``: a complete upload: signed manifest and
  blob id; written once, after every chunk is held and checked;
- ``pending/{owner}/{digest}``: an upload being received (resumable);
  ``pending/{owner}/{digest}/{index}`` marks each chunk held, with the
  chunk's first and last element so order across chunks can be checked;
  ``current/{owner}/{epoch}/{kind}`` names the one pending upload a lab
  may have per (epoch, kind), so abandoned uploads cannot pile up;
- ``ev/{epoch}/{kind}/{evaluator}/{owner}``: an evaluation (the
  evaluator's sealed token list over the owner's upload);
- ``budget/{epoch}/{kind}/{evaluator}/{requester}``: items charged;
- ``idem/{lab}/{key}``: an idempotency key's request digest and response;
- ``nonce/{lab}/{nonce}``: a nonce already used, until it expires.

A published record is written with put-if-absent: it exists whole or not
at all, and a second, different one is refused by the caller.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from labmatch._proto import coordinator_pb2 as pb

from .store.base import Store

__all__ = ["Record", "Records", "IDEMPOTENCY_TTL"]

IDEMPOTENCY_TTL = 24 * 3600


@dataclass(frozen=True)
class Record:
    """A signed statement and, for bulk data, the blob holding it."""

    signed: pb.SignedMessage
    blob_id: str = ""

    def encode(self) -> bytes:
        wire = self.signed.SerializeToString(deterministic=True)
        return json.dumps({"signed": base64.b64encode(wire).decode(),
                           "blob": self.blob_id}).encode()

    @classmethod
    def decode(cls, data: bytes) -> Record:
        doc = json.loads(data)
        signed = pb.SignedMessage.FromString(base64.b64decode(doc["signed"]))
        return cls(signed, doc["blob"])


class Records:
    def __init__(self, store: Store) -> None:
        self.meta = store.meta
        self.blobs = store.blobs

    async def _get(self, key: str) -> Record | None:
        data = await self.meta.get(key)
        return None if data is None else Record.decode(data)

    async def _add(self, key: str, record: Record, ttl: int) -> Record | None:
        existing = await self.meta.put_if_absent(key, record.encode(), ttl)
        return None if existing is None else Record.decode(existing)

    # -- key commitments ------------------------------------------------

    async def key_commit(self, epoch: str, kind: str, lab: str):
        return await self._get(f"kc/{epoch}/{kind}/{lab}")

    async def add_key_commit(self, epoch: str, kind: str, lab: str,
                             record: Record, ttl: int):
        return await self._add(f"kc/{epoch}/{kind}/{lab}", record, ttl)

    # -- uploads --------------------------------------------------------

    async def upload(self, epoch: str, kind: str, owner: str):
        return await self._get(f"up/{epoch}/{kind}/{owner}")

    async def add_upload(self, epoch: str, kind: str, owner: str,
                         record: Record, ttl: int):
        return await self._add(f"up/{epoch}/{kind}/{owner}", record, ttl)

    async def pending(self, owner: str, digest: bytes) -> Record | None:
        return await self._get(f"pending/{owner}/{digest.hex()}")

    async def add_pending(self, owner: str, digest: bytes, record: Record,
                          ttl: int) -> Record | None:
        return await self._add(f"pending/{owner}/{digest.hex()}", record,
                               ttl)

    async def current_pending(self, owner: str, epoch: str,
                              kind: str) -> bytes | None:
        data = await self.meta.get(f"current/{owner}/{epoch}/{kind}")
        return None if data is None else bytes.fromhex(data.decode())

    async def set_current_pending(self, owner: str, epoch: str, kind: str,
                                  digest: bytes, ttl: int) -> None:
        await self.meta.put(f"current/{owner}/{epoch}/{kind}",
                            digest.hex().encode(), ttl)

    async def mark_chunk(self, owner: str, digest: bytes, index: int,
                         bounds: bytes, ttl: int) -> None:
        await self.meta.put(f"pending/{owner}/{digest.hex()}/{index}",
                            bounds, ttl)

    async def chunk_marks(self, owner: str, digest: bytes) -> dict[int, bytes]:
        prefix = f"pending/{owner}/{digest.hex()}/"
        marks = {}
        for key in await self.meta.keys(prefix):
            value = await self.meta.get(key)
            if value is not None:
                marks[int(key[len(prefix):])] = value
        return marks

    async def drop_pending(self, owner: str, digest: bytes,
                           *, keep_blob: bool) -> None:
        record = await self.pending(owner, digest)
        prefix = f"pending/{owner}/{digest.hex()}"
        for key in await self.meta.keys(prefix + "/"):
            await self.meta.delete(key)
        await self.meta.delete(prefix)
        if record is not None and not keep_blob:
            await self.blobs.delete_blob(record.blob_id)

    # -- evaluations ----------------------------------------------------

    async def evaluation(self, epoch: str, kind: str, evaluator: str,
                         owner: str):
        return await self._get(f"ev/{epoch}/{kind}/{evaluator}/{owner}")

    async def add_evaluation(self, epoch: str, kind: str, evaluator: str,
                             owner: str, record: Record, ttl: int):
        return await self._add(f"ev/{epoch}/{kind}/{evaluator}/{owner}",
                               record, ttl)

    # -- budgets --------------------------------------------------------

    async def budget_used(self, epoch: str, kind: str, evaluator: str,
                          requester: str) -> int:
        data = await self.meta.get(
            f"budget/{epoch}/{kind}/{evaluator}/{requester}")
        return 0 if data is None else int(data)

    async def charge(self, epoch: str, kind: str, evaluator: str,
                     requester: str, items: int, ttl: int) -> None:
        await self.meta.put(f"budget/{epoch}/{kind}/{evaluator}/{requester}",
                            str(items).encode(), ttl)

    # -- replay protection ----------------------------------------------

    async def idempotent(self, lab: str, key: str) -> tuple[bytes, bytes] | None:
        """(request digest, response bytes) stored under ``key``."""
        data = await self.meta.get(f"idem/{lab}/{key}")
        if data is None:
            return None
        doc = json.loads(data)
        return (bytes.fromhex(doc["request"]),
                base64.b64decode(doc["response"]))

    async def remember(self, lab: str, key: str, request: bytes,
                       response: bytes) -> None:
        value = json.dumps({"request": request.hex(),
                            "response": base64.b64encode(response).decode()})
        await self.meta.put_if_absent(f"idem/{lab}/{key}", value.encode(),
                                      IDEMPOTENCY_TTL)

    async def use_nonce(self, lab: str, nonce: bytes, ttl: int) -> bool:
        """True if the nonce was fresh (and is now used)."""
        existing = await self.meta.put_if_absent(
            f"nonce/{lab}/{nonce.hex()}", b"1", ttl)
        return existing is None
