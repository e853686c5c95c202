"""Upload and evaluation records: the metadata layout of a round.

Keys (inside the store's consortium prefix):

- ``up/{epoch}/{kind}/{owner}``: the owner's upload manifest and blob id;
- ``ev/{epoch}/{kind}/{evaluator}/{owner}``: an evaluation manifest (the
  evaluator's sealed token list over the owner's upload) and blob id.

A record is written once, after its blob is complete and verified, with
put-if-absent: a record either exists whole or not at all.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message

from labmatch._proto import coordinator_pb2 as pb

from .store.base import Store

__all__ = ["Record", "Records"]

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Record(Generic[M]):
    manifest: M
    blob_id: str

    def encode(self) -> bytes:
        return json.dumps({
            "manifest": base64.b64encode(
                self.manifest.SerializeToString(deterministic=True)).decode(),
            "blob": self.blob_id,
        }).encode()

    @classmethod
    def decode(cls, data: bytes, message_type: type[M]) -> Record[M]:
        doc = json.loads(data)
        manifest = message_type.FromString(base64.b64decode(doc["manifest"]))

        return cls(manifest, doc["blob"])


class Records:
    def __init__(self, store: Store) -> None:
        self._meta = store.meta

    @staticmethod
    def upload_key(epoch: str, kind: str, owner: str) -> str:
        return f"up/{epoch}/{kind}/{owner}"

    @staticmethod
    def evaluation_key(epoch: str, kind: str, evaluator: str,
                       owner: str) -> str:
        return f"ev/{epoch}/{kind}/{evaluator}/{owner}"

    async def upload(self, epoch: str, kind: str,
                     owner: str) -> Record[pb.UploadManifest] | None:
        data = await self._meta.get(self.upload_key(epoch, kind, owner))
        return None if data is None else Record.decode(
            data, pb.UploadManifest)

    async def evaluation(self, epoch: str, kind: str, evaluator: str,
                         owner: str) -> Record[pb.EvaluationManifest] | None:
        key = self.evaluation_key(epoch, kind, evaluator, owner)
        data = await self._meta.get(key)
        return None if data is None else Record.decode(
            data, pb.EvaluationManifest)

    async def add_upload(self, record: Record[pb.UploadManifest],
                         ttl: int) -> Record[pb.UploadManifest] | None:
        """Store ``record`` unless one exists; returns the existing one."""
        m = record.manifest
        key = self.upload_key(m.epoch, m.kind, m.owner)
        existing = await self._meta.put_if_absent(key, record.encode(), ttl)

        return None if existing is None else Record.decode(
            existing, pb.UploadManifest)

    async def add_evaluation(
        self, record: Record[pb.EvaluationManifest], ttl: int,
    ) -> Record[pb.EvaluationManifest] | None:
        m = record.manifest
        key = self.evaluation_key(m.epoch, m.kind, m.evaluator, m.owner)
        existing = await self._meta.put_if_absent(key, record.encode(), ttl)

        return None if existing is None else Record.decode(
            existing, pb.EvaluationManifest)
