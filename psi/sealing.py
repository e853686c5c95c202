"""Token lists sealed to their owner, in chunks.

A fresh 32-byte stream key is sealed to the owner's X25519 public key
(libsodium sealed box); the list itself goes through secretstream
(XChaCha20-Poly1305) one chunk at a time, so no list is ever one buffer.
Every chunk's associated data binds the list's context (consortium, epoch,
kind, evaluator, owner, the evaluated upload's digest, the count) and the
chunk index; the last chunk carries the FINAL tag, so truncation,
reordering, splicing between lists and a swapped header all fail to open.
An empty list is one empty FINAL chunk.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nacl import bindings as sodium
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from .encoding import lp, u64
from .errors import SealError
from .tokens import TOKEN_BYTES

__all__ = [
    "TOKENS_PER_CHUNK",
    "MAX_SEALED_CHUNK_BYTES",
    "list_context",
    "SealedList",
    "seal_tokens",
    "TokenListOpener",
]

TOKENS_PER_CHUNK = 65536   # 1 MiB of plaintext per chunk
_ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
MAX_SEALED_CHUNK_BYTES = TOKENS_PER_CHUNK * TOKEN_BYTES + _ABYTES
LIST_LABEL = b"LABMATCH-V1-CS01-TOKENLIST"
_TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL


def list_context(*, consortium_id: str, epoch: str, kind: str,
                 evaluator: str, owner: str, upload_digest: bytes,
                 count: int) -> bytes:
    """What a sealed list is about; bound into every chunk."""
    fields = (consortium_id, epoch, kind, evaluator, owner)

    return (lp(LIST_LABEL) + b"".join(lp(f.encode()) for f in fields)
            + lp(upload_digest) + u64(count))


def chunk_count_for(count: int) -> int:
    """Chunks a list of ``count`` tokens takes (at least one)."""
    return max(1, -(-count // TOKENS_PER_CHUNK))


@dataclass(frozen=True)
class SealedList:
    sealed_key: bytes
    header: bytes
    chunk_count: int
    chunks: Iterator[bytes]


def seal_tokens(owner_public_key: bytes, context: bytes,
                tokens: Sequence[bytes]) -> SealedList:
    """Seal ``tokens`` (16 bytes each) to the owner; chunks are lazy."""
    if any(len(t) != TOKEN_BYTES for t in tokens):
        raise ValueError("every token is 16 bytes")
    key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    sealed_key = SealedBox(PublicKey(owner_public_key)).encrypt(key)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(
        state, key)
    n_chunks = chunk_count_for(len(tokens))

    def chunks() -> Iterator[bytes]:
        for index in range(n_chunks):
            start = index * TOKENS_PER_CHUNK
            plain = b"".join(tokens[start:start + TOKENS_PER_CHUNK])
            tag = _TAG_FINAL if index == n_chunks - 1 else _TAG_MESSAGE
            yield sodium.crypto_secretstream_xchacha20poly1305_push(
                state, plain, context + u64(index), tag)

    return SealedList(sealed_key, header, n_chunks, chunks())


class TokenListOpener:
    """Opens a sealed list chunk by chunk; any failure is one SealError.

    ``count`` is the number of tokens the list must hold (the owner's
    upload size); more, or fewer by the FINAL chunk, fails to open.
    """

    def __init__(self, owner_private_key: PrivateKey, context: bytes,
                 sealed_key: bytes, header: bytes, *, count: int) -> None:
        self._context = context
        self._count = count
        self._opened = 0
        self._next = 0
        self._done = False
        try:
            key = SealedBox(owner_private_key).decrypt(sealed_key)
            self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
            sodium.crypto_secretstream_xchacha20poly1305_init_pull(
                self._state, header, key)
        except (CryptoError, ValueError, TypeError):
            raise SealError("sealed token list does not open") from None

    def open_chunk(self, ciphertext: bytes) -> list[bytes]:
        """The tokens in the next chunk, in order."""
        if self._done or len(ciphertext) > MAX_SEALED_CHUNK_BYTES:
            raise SealError("sealed token list does not open")
        try:
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
                self._state, ciphertext, self._context + u64(self._next))
        except (CryptoError, ValueError, TypeError):
            raise SealError("sealed token list does not open") from None
        if len(plain) % TOKEN_BYTES:
            raise SealError("sealed token list does not open")
        self._opened += len(plain) // TOKEN_BYTES
        if self._opened > self._count:
            raise SealError("sealed token list does not open")
        self._next += 1
        self._done = tag == _TAG_FINAL

        return [plain[i:i + TOKEN_BYTES]
                for i in range(0, len(plain), TOKEN_BYTES)]

    def finish(self) -> None:
        """Raise unless the FINAL chunk was seen and the count is whole."""
        if not self._done or self._opened != self._count:
            raise SealError("sealed token list does not open")
