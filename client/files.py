"""Writing credential and state files safely, and reading them back.

Every write is atomic: the bytes go to a temporary file beside the target,
are flushed to disk, and the temporary file is renamed over the target (or,
for a key that must never be replaced, linked into place), so a reader sees
the old content or the new, never a torn mix. The temporary file is created
with the final mode, so a private file is never readable by others, not
even for a moment.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from labmatch.psi.errors import ConsortiumError

__all__ = [
    "key_hex",
    "make_private_dir",
    "read_file",
    "read_key_hex",
    "write_private",
    "write_public",
]

PRIVATE_FILE = 0o600
PUBLIC_FILE = 0o644
PRIVATE_DIR = 0o700
KEY_HEX = re.compile(r"[0-9a-f]{64}")


def write_private(path: Path, data: bytes, *,
                  exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only.

    With ``exclusive``, raise FileExistsError rather than replace a file
    already at ``path`` (for keys that must never be overwritten).
    """
    _write_atomic(Path(path), data, PRIVATE_FILE, exclusive)


def write_public(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by everyone."""
    _write_atomic(Path(path), data, PUBLIC_FILE, False)


def make_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents, each with mode 0700.

    Directories that already exist keep their mode.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a directory")

    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=PRIVATE_DIR)
            os.chmod(directory, PRIVATE_DIR)  # the umask may have narrowed it


def read_file(path: Path) -> bytes:
    """The bytes in ``path``; ConsortiumError naming it if unreadable."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConsortiumError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConsortiumError(f"{path}: cannot read ({exc.strerror})") \
            from None


def key_hex(raw: bytes) -> bytes:
    """A 32-byte key as the content of a key file: hex and a newline."""
    if len(raw) != 32:
        raise ValueError("a key is 32 bytes")

    return raw.hex().encode() + b"\n"


def read_key_hex(path: Path) -> bytes:
    """The 32-byte key in the key file at ``path`` (64 lowercase hex
    digits, optionally surrounded by whitespace). ConsortiumError naming
    the file, never showing its content, otherwise."""
    text = read_file(path).strip()
    if not KEY_HEX.fullmatch(text.decode("ascii", errors="replace")):
        raise ConsortiumError(f"{path}: must hold a 32-byte key as 64 "
                              "lowercase hex digits")

    return bytes.fromhex(text.decode("ascii"))


def _write_atomic(path: Path, data: bytes, mode: int,
                  exclusive: bool) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # exact mode, whatever the umask
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise

    os.close(fd)
    try:
        _publish(tmp, path, exclusive)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _publish(tmp: Path, path: Path, exclusive: bool) -> None:
    if exclusive:
        os.link(tmp, path)  # fails, atomically, if path exists
    else:
        os.replace(tmp, path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
