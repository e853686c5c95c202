"""Fixtures shared by every test layer.

Redis: on CI (and here) a server listens on 127.0.0.1:6379; tests use their
own database number (LABMATCH_TEST_REDIS_DB, default 13) and flush it
around each test. Where nothing listens there, the fixture starts
``redis-server`` on a free port if one is installed, and otherwise skips
with the reason, except under CI=true, where a missing Redis fails.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The shared real public lists, never copied into the repository: found
# through LABMATCH_PUBLIC_DATA, beside the checkout (../shared), or in the
# workplace's shared folder.
PUBLIC_DATA_CANDIDATES = [
    Path(p) for p in (os.environ.get("LABMATCH_PUBLIC_DATA"),) if p
] + [REPO.parent / "shared" / "data" / "public",
     Path("/work/shared/data/public")]
REDIS_DB = int(os.environ.get("LABMATCH_TEST_REDIS_DB", "13"))


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 0.5).close()
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """(host, port) of a Redis the tests may use."""
    if _listening("127.0.0.1", 6379):
        yield ("127.0.0.1", 6379)
        return
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no Redis on 127.0.0.1:6379 and no "
                        "redis-server to start")
        pytest.skip("no Redis on 127.0.0.1:6379 and redis-server is not "
                    "installed")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no",
         "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _listening("127.0.0.1", port):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.1)
    try:
        yield ("127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def redis_url(redis_server) -> Iterator[str]:
    """A redis:// URL to an empty test database, flushed afterwards."""
    import redis

    host, port = redis_server
    client = redis.Redis(host=host, port=port, db=REDIS_DB)
    client.flushdb()
    try:
        yield f"redis://{host}:{port}/{REDIS_DB}"
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def public_data() -> Path:
    """The shared real public lists (never copied into the repository)."""
    for candidate in PUBLIC_DATA_CANDIDATES:
        if candidate.is_dir():
            return candidate
    pytest.skip("public data not found (set LABMATCH_PUBLIC_DATA); looked "
                "in " + ", ".join(map(str, PUBLIC_DATA_CANDIDATES)))
