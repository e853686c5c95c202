"""An upload cut off mid-stream resumes, on the next sync, from the chunks
the coordinator lacks: the lab keeps its signed manifest, asks what is
held, and sends only the rest."""
from __future__ import annotations

import grpc
import pytest

from labmatch.client.transport import CoordinatorClient, CoordinatorError
from labmatch.psi.manifest import ELEMENTS_PER_CHUNK
from tests.server.conftest import honest_engine, kind_status, write_csv

KIND = "domain.name.c1"


async def test_interrupted_upload_resumes_missing_chunks_only(
        coord, tmp_path, monkeypatch):
    """The second sync sends only the chunk the first one did not."""
    items = ELEMENTS_PER_CHUNK + 100        # two chunks once padded
    path = write_csv(tmp_path / "a.csv", (
        ("domain", f"d{i}.resume.example") for i in range(items)))
    real_upload = CoordinatorClient.upload
    sent: list[list[int]] = []

    async def cut_after_first_chunk(self, manifest, key, chunks, what):
        if what != KIND:
            return await real_upload(self, manifest, key, chunks, what)
        first = next(iter(chunks))
        await real_upload(self, manifest, key, [first], what)
        raise CoordinatorError(grpc.StatusCode.UNAVAILABLE, "cut off")

    monkeypatch.setattr(CoordinatorClient, "upload", cut_after_first_chunk)
    async with honest_engine(coord, "a", path) as engine:
        with pytest.raises(CoordinatorError):
            await engine.run_pass()

    async def recording(self, manifest, key, chunks, what):
        chunks = list(chunks)
        if what == KIND:
            sent.append([index for index, _ in chunks])
        return await real_upload(self, manifest, key, chunks, what)

    monkeypatch.setattr(CoordinatorClient, "upload", recording)
    async with honest_engine(coord, "a", path) as engine:
        await engine.run_pass()

    assert sent == [[], [1]]
    own = kind_status(await coord.round("a"), KIND).own_upload
    assert own.payload
