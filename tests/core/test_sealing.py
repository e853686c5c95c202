"""Token lists sealed to their owner (labmatch.psi.sealing) and the
evaluation digest over sealed chunks (labmatch.psi.manifest).

The tamper matrix: flipped bytes, wrong recipient, every context field,
swapped sealed key or header between lists, spliced, reordered, repeated,
truncated and extra chunks. Every case must end in the one opaque
SealError.
"""
from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey

from labmatch.psi import sealing
from labmatch.psi.errors import LabmatchError, SealError

CONSORTIUM = "0123456789abcdef"
OWNER = PrivateKey.generate()
STRANGER = PrivateKey.generate()
OWNER_PUBLIC = bytes(OWNER.public_key)
SMALL_CHUNK = 4
OPAQUE = "sealed token list does not open"

BASE_CONTEXT = dict(consortium_id=CONSORTIUM, epoch="2024-06-01",
                    kind="ip4.addr.c1", evaluator="lab-b", owner="lab-a",
                    upload_digest=bytes(range(32)), count=10)


def context(**changes) -> bytes:
    return sealing.list_context(**{**BASE_CONTEXT, **changes})


def count_of(ctx: bytes) -> int:
    """The token count a context binds (its last eight bytes)."""
    return int.from_bytes(ctx[-8:], "big")


def make_tokens(n: int, tag: int = 0) -> list[bytes]:
    return [bytes([tag]) + i.to_bytes(15, "big") for i in range(n)]


def seal(tokens: list[bytes], ctx: bytes | None = None,
         recipient: bytes = OWNER_PUBLIC):
    """Seal and materialise: (sealed_key, header, [chunks])."""
    sealed = sealing.seal_tokens(recipient, ctx or context(), tokens)
    chunks = list(sealed.chunks)
    assert len(chunks) == sealed.chunk_count
    return sealed.sealed_key, sealed.header, chunks


def open_all(sealed_key: bytes, header: bytes, chunks: list[bytes],
             ctx: bytes | None = None,
             private: PrivateKey = OWNER) -> list[bytes]:
    ctx = ctx or context()
    opener = sealing.TokenListOpener(private, ctx, sealed_key, header,
                                     count=count_of(ctx))
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(opener.open_chunk(chunk))
    opener.finish()
    return out


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


@pytest.fixture
def small_chunks(monkeypatch):
    """Shrink chunks to SMALL_CHUNK tokens so lists span several chunks."""
    monkeypatch.setattr(sealing, "TOKENS_PER_CHUNK", SMALL_CHUNK)


@pytest.fixture
def ten_tokens(small_chunks):
    """Ten tokens sealed in three chunks (4 + 4 + 2)."""
    tokens = make_tokens(10)
    sealed_key, header, chunks = seal(tokens)
    assert len(chunks) == 3
    return tokens, sealed_key, header, chunks


class TestSealRoundTrip:
    def test_seal_empty_list_one_final_chunk_opens_empty(self):
        """An empty list is one empty FINAL chunk and opens to []."""
        sealed_key, header, chunks = seal([], context(count=0))
        assert len(chunks) == 1
        assert open_all(sealed_key, header, chunks, context(count=0)) == []

    def test_seal_few_tokens_one_chunk_opens_in_order(self):
        """A short list round-trips in order."""
        tokens = make_tokens(10)
        assert open_all(*seal(tokens)) == tokens

    def test_seal_multi_chunk_list_opens_in_order(self, ten_tokens):
        """A list spanning three chunks round-trips in order."""
        tokens, sealed_key, header, chunks = ten_tokens
        assert open_all(sealed_key, header, chunks) == tokens

    @pytest.mark.parametrize("n,expected_chunks", [
        (0, 1), (1, 1), (SMALL_CHUNK, 1), (SMALL_CHUNK + 1, 2),
        (2 * SMALL_CHUNK, 2), (2 * SMALL_CHUNK + 1, 3)])
    def test_seal_chunk_boundaries_expected_chunk_count(
            self, small_chunks, n, expected_chunks):
        """Chunk counts at and around multiples of the chunk size."""
        tokens = make_tokens(n)
        ctx = context(count=n)
        sealed_key, header, chunks = seal(tokens, ctx)
        assert len(chunks) == expected_chunks
        assert sealing.chunk_count_for(n) == expected_chunks
        assert open_all(sealed_key, header, chunks, ctx) == tokens

    def test_seal_real_chunk_size_65537_tokens_two_chunks(self):
        """At the real TOKENS_PER_CHUNK, 65,537 tokens take two chunks."""
        n = sealing.TOKENS_PER_CHUNK + 1
        tokens = make_tokens(n)
        ctx = context(count=n)
        sealed_key, header, chunks = seal(tokens, ctx)
        assert len(chunks) == 2
        assert len(chunks[0]) == sealing.MAX_SEALED_CHUNK_BYTES
        assert open_all(sealed_key, header, chunks, ctx) == tokens

    def test_seal_chunks_attribute_lazy_iterator(self):
        """SealedList.chunks is a one-shot iterator, not a buffered list."""
        sealed = sealing.seal_tokens(OWNER_PUBLIC, context(),
                                     make_tokens(3))
        assert iter(sealed.chunks) is sealed.chunks
        assert len(list(sealed.chunks)) == 1
        assert list(sealed.chunks) == []

    def test_seal_same_list_twice_different_ciphertexts(self):
        """Each sealing uses a fresh stream key: nothing repeats."""
        first, second = seal(make_tokens(5)), seal(make_tokens(5))
        assert first[0] != second[0]
        assert first[1] != second[1]
        assert first[2] != second[2]

    @pytest.mark.parametrize("bad", [b"", b"\x00" * 15, b"\x00" * 17,
                                     b"\x00" * 32])
    def test_seal_wrong_token_length_raises_value_error(self, bad):
        """Every token must be exactly 16 bytes."""
        with pytest.raises(ValueError):
            sealing.seal_tokens(OWNER_PUBLIC, context(),
                                make_tokens(2) + [bad])

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.binary(min_size=16, max_size=16), max_size=13))
    def test_seal_arbitrary_token_list_round_trips(self, tokens):
        """Any list of 16-byte tokens (chunk size 3) opens to itself."""
        with mock.patch.object(sealing, "TOKENS_PER_CHUNK", 3):
            ctx = context(count=len(tokens))
            assert open_all(*seal(tokens, ctx), ctx) == tokens


class TestTamperMatrix:
    @pytest.mark.parametrize("chunk_index", [0, 1, 2])
    @pytest.mark.parametrize("where", ["first", "middle", "last"])
    def test_open_flipped_byte_in_chunk_seal_error(self, ten_tokens,
                                                   chunk_index, where):
        """One flipped bit anywhere in any chunk makes the list fail."""
        _, sealed_key, header, chunks = ten_tokens
        chunk = chunks[chunk_index]
        index = {"first": 0, "middle": len(chunk) // 2,
                 "last": len(chunk) - 1}[where]
        chunks = list(chunks)
        chunks[chunk_index] = flip(chunk, index)
        with pytest.raises(SealError):
            open_all(sealed_key, header, chunks)

    def test_open_wrong_recipient_key_seal_error(self, ten_tokens):
        """Another lab's private key cannot open the list."""
        _, sealed_key, header, chunks = ten_tokens
        with pytest.raises(SealError):
            open_all(sealed_key, header, chunks, private=STRANGER)

    def test_open_sealed_to_stranger_owner_key_seal_error(self):
        """A list sealed to the wrong public key does not open for the
        owner."""
        sealed_key, header, chunks = seal(make_tokens(3),
                                          recipient=bytes(
                                              STRANGER.public_key))
        with pytest.raises(SealError):
            open_all(sealed_key, header, chunks)

    @pytest.mark.parametrize("field,value", [
        ("consortium_id", "fedcba9876543210"),
        ("epoch", "2024-06-02"),
        ("kind", "ip6.addr.c1"),
        ("evaluator", "lab-c"),
        ("owner", "lab-c"),
        ("upload_digest", bytes(32)),
        ("count", 11),
    ])
    def test_open_different_context_field_seal_error(self, ten_tokens,
                                                     field, value):
        """Opening under a context that differs in any one field fails."""
        _, sealed_key, header, chunks = ten_tokens
        with pytest.raises(SealError):
            open_all(sealed_key, header, chunks, ctx=context(**{field: value}))

    def test_open_evaluator_owner_swapped_seal_error(self, ten_tokens):
        """The direction of the pair is bound: swapping roles fails."""
        _, sealed_key, header, chunks = ten_tokens
        with pytest.raises(SealError):
            open_all(sealed_key, header, chunks,
                     ctx=context(evaluator="lab-a", owner="lab-b"))

    def test_open_swapped_sealed_key_between_lists_seal_error(
            self, ten_tokens):
        """Another list's sealed key with this list's header and chunks
        fails."""
        _, _, header, chunks = ten_tokens
        other_key, _, _ = seal(make_tokens(10, tag=1))
        with pytest.raises(SealError):
            open_all(other_key, header, chunks)

    def test_open_swapped_header_between_lists_seal_error(self, ten_tokens):
        """Another list's header with this list's key and chunks fails."""
        _, sealed_key, _, chunks = ten_tokens
        _, other_header, _ = seal(make_tokens(10, tag=1))
        with pytest.raises(SealError):
            open_all(sealed_key, other_header, chunks)

    def test_open_chunk_spliced_from_other_list_seal_error(self, ten_tokens):
        """A chunk from another list at the same index fails."""
        _, sealed_key, header, chunks = ten_tokens
        _, _, other_chunks = seal(make_tokens(10, tag=1))
        with pytest.raises(SealError):
            open_all(sealed_key, header,
                     [chunks[0], other_chunks[1], chunks[2]])

    def test_open_reordered_chunks_seal_error(self, ten_tokens):
        """Swapping two chunks fails."""
        _, sealed_key, header, chunks = ten_tokens
        with pytest.raises(SealError):
            open_all(sealed_key, header, [chunks[1], chunks[0], chunks[2]])

    def test_open_repeated_chunk_seal_error(self, ten_tokens):
        """Replaying a chunk in place of the next one fails."""
        _, sealed_key, header, chunks = ten_tokens
        with pytest.raises(SealError):
            open_all(sealed_key, header, [chunks[0], chunks[0], chunks[2]])

    def test_open_last_chunk_dropped_finish_seal_error(self, ten_tokens):
        """Truncation: earlier chunks open, but finish() refuses."""
        tokens, sealed_key, header, chunks = ten_tokens
        opener = sealing.TokenListOpener(OWNER, context(), sealed_key,
                                         header, count=count_of(context()))
        opened = opener.open_chunk(chunks[0]) + opener.open_chunk(chunks[1])
        assert opened == tokens[:2 * SMALL_CHUNK]
        with pytest.raises(SealError):
            opener.finish()

    def test_open_empty_list_no_chunk_finish_seal_error(self):
        """Dropping the only (empty FINAL) chunk is caught by finish()."""
        sealed_key, header, _ = seal([], context(count=0))
        opener = sealing.TokenListOpener(OWNER, context(count=0),
                                         sealed_key, header, count=0)
        with pytest.raises(SealError):
            opener.finish()

    def test_open_extra_chunk_after_final_seal_error(self, ten_tokens):
        """Any chunk offered after the FINAL one is refused."""
        _, sealed_key, header, chunks = ten_tokens
        opener = sealing.TokenListOpener(OWNER, context(), sealed_key,
                                         header, count=count_of(context()))
        for chunk in chunks:
            opener.open_chunk(chunk)
        opener.finish()
        _, _, other_chunks = seal(make_tokens(10, tag=1))
        for extra in (chunks[-1], other_chunks[0], b""):
            with pytest.raises(SealError):
                opener.open_chunk(extra)

    @pytest.mark.parametrize("cut", [1, 16, 17])
    def test_open_truncated_chunk_bytes_seal_error(self, ten_tokens, cut):
        """A chunk shortened by a few bytes fails."""
        _, sealed_key, header, chunks = ten_tokens
        with pytest.raises(SealError):
            open_all(sealed_key, header,
                     [chunks[0][:-cut], chunks[1], chunks[2]])

    def test_open_empty_chunk_bytes_seal_error(self, ten_tokens):
        """An empty ciphertext is refused."""
        _, sealed_key, header, chunks = ten_tokens
        with pytest.raises(SealError):
            open_all(sealed_key, header, [b"", *chunks])

    def test_open_oversize_chunk_seal_error(self, ten_tokens):
        """A chunk longer than MAX_SEALED_CHUNK_BYTES is refused unread."""
        _, sealed_key, header, chunks = ten_tokens
        oversize = chunks[0] + bytes(sealing.MAX_SEALED_CHUNK_BYTES)
        with pytest.raises(SealError):
            open_all(sealed_key, header, [oversize, *chunks[1:]])

    @pytest.mark.parametrize("mutation", ["flip-first", "flip-last",
                                          "truncate", "empty"])
    def test_open_damaged_sealed_key_seal_error(self, ten_tokens, mutation):
        """A damaged sealed key fails at construction of the opener."""
        _, sealed_key, header, chunks = ten_tokens
        damaged = {"flip-first": flip(sealed_key, 0),
                   "flip-last": flip(sealed_key, len(sealed_key) - 1),
                   "truncate": sealed_key[:-1],
                   "empty": b""}[mutation]
        with pytest.raises(SealError):
            open_all(damaged, header, chunks)

    @pytest.mark.parametrize("mutation", ["flip", "truncate", "extend"])
    def test_open_damaged_header_seal_error(self, ten_tokens, mutation):
        """A damaged stream header fails."""
        _, sealed_key, header, chunks = ten_tokens
        damaged = {"flip": flip(header, 3), "truncate": header[:-1],
                   "extend": header + b"\x00"}[mutation]
        with pytest.raises(SealError):
            open_all(sealed_key, damaged, chunks)

    def test_open_every_failure_same_opaque_message(self, ten_tokens):
        """Every failure says the same thing and is a LabmatchError."""
        _, sealed_key, header, chunks = ten_tokens
        attempts = [
            lambda: open_all(sealed_key, header, chunks, private=STRANGER),
            lambda: open_all(sealed_key, header, chunks,
                             ctx=context(count=11)),
            lambda: open_all(sealed_key, header, chunks[::-1]),
            lambda: open_all(sealed_key, header, chunks[:-1]),
            lambda: open_all(sealed_key, flip(header, 0), chunks),
        ]
        for attempt in attempts:
            with pytest.raises(SealError) as info:
                attempt()
            assert str(info.value) == OPAQUE
            assert isinstance(info.value, LabmatchError)

    def test_open_token_count_differs_from_context_count_seal_error(self):
        """A list whose length differs from the context's count is
        refused."""
        ctx = context(count=2)
        sealed_key, header, chunks = seal(make_tokens(3), ctx)
        with pytest.raises(SealError):
            open_all(sealed_key, header, chunks, ctx)


class TestListContext:
    @pytest.mark.parametrize("field,value", [
        ("consortium_id", "fedcba9876543210"), ("epoch", "2024-06-02"),
        ("kind", "ip6.addr.c1"), ("evaluator", "lab-c"), ("owner", "lab-c"),
        ("upload_digest", bytes(32)), ("count", 11)])
    def test_list_context_one_field_changed_different_bytes(
            self, field, value):
        """Every field is part of the context bytes."""
        assert context(**{field: value}) != context()

    def test_list_context_boundary_shift_different_bytes(self):
        """Length prefixes keep ('ab', 'c') apart from ('a', 'bc')."""
        assert (context(evaluator="ab", owner="c")
                != context(evaluator="a", owner="bc"))
