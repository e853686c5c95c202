"""End-to-end harness: the real ``labmatch`` command in separate processes.

Every test gets its own consortium (made with ``labmatch consortium init``)
and its own coordinator (``labmatch serve``) listening on a free loopback
port, on the SQLite store or on the test Redis database. Labs sync with
``labmatch sync`` as child processes. Everything the processes print is
kept, so tests can assert on it afterwards (and the leak tests scan it).

Helpers live here as fixtures, because test files cannot import each other
(pytest runs with --import-mode=importlib).
"""
from __future__ import annotations

import csv
import datetime as dt
import ipaddress
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LABMATCH = Path(sys.executable).parent / "labmatch"
LABS = ("a", "b", "c")
HEADER = "kind,value,ref,level,peers\n"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
SYNC_TIMEOUT = 180.0

# Row tuples used by the tests.
Holding = tuple[str, str, str]                 # kind, value, ref
OutputRow = tuple[str, str, str, str, str]     # kind, value, ref, level, peers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def today_utc() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


@dataclass
class Run:
    """One finished command: what ran and everything it printed."""

    argv: list[str]
    code: int
    stdout: bytes
    stderr: bytes


class _Pump(threading.Thread):
    """Reads a pipe line by line into ``sink`` until it closes."""

    def __init__(self, stream, sink: list[bytes],
                 on_line: Callable[[bytes], None] | None = None) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._sink = sink
        self._on_line = on_line

    def run(self) -> None:
        for line in iter(self._stream.readline, b""):
            self._sink.append(line)
            if self._on_line is not None:
                self._on_line(line)
        self._stream.close()


class Server:
    """``labmatch serve`` as a child process; its output is kept."""

    def __init__(self, consortium_file: Path, port: int,
                 store_url: str) -> None:
        self.consortium_file = consortium_file
        self.port = port
        self.store_url = store_url
        self.stderr_lines: list[bytes] = []
        self.stdout_lines: list[bytes] = []
        self.exit_code: int | None = None
        self._ready = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._pumps: list[_Pump] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [str(LABMATCH), "serve", "--consortium",
             str(self.consortium_file), "--listen", self.address,
             "--store", self.store_url],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=_env())

        def on_line(line: bytes) -> None:
            if line.startswith(b"listening on"):
                self._ready.set()

        self._pumps = [
            _Pump(self._proc.stderr, self.stderr_lines, on_line),
            _Pump(self._proc.stdout, self.stdout_lines)]
        for pump in self._pumps:
            pump.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready.wait(0.05):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._proc.kill()
                self._proc.wait()
                for pump in self._pumps:
                    pump.join(5)
                pytest.fail("labmatch serve did not print 'listening on':\n"
                            + self.stderr_text)
        listening = [ln for ln in self.stderr_lines
                     if ln.startswith(b"listening on")]
        assert listening[0].decode().split()[-1] == self.address

    def stop(self) -> int:
        """SIGTERM; the exit code (killed and None after STOP_TIMEOUT)."""
        if self._proc is None:
            return self.exit_code  # type: ignore[return-value]
        proc, self._proc = self._proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.exit_code = None
        for pump in self._pumps:
            pump.join(5)
        return self.exit_code  # type: ignore[return-value]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def stderr_text(self) -> str:
        return b"".join(self.stderr_lines).decode("utf-8", "replace")


@dataclass
class Harness:
    """One consortium, one coordinator, and the way to run labs."""

    store: str                      # "sqlite" or "redis"
    tmp: Path
    directory: Path                 # the consortium directory
    port: int
    epoch: str
    store_url: str
    redis_url: str | None = None
    server: Server | None = None
    servers: list[Server] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    sqlite_paths: list[Path] = field(default_factory=list)

    @property
    def consortium_file(self) -> Path:
        return self.directory / "consortium.toml"

    def lab_dir(self, lab: str) -> Path:
        return self.directory / "labs" / lab

    # -- the coordinator -----------------------------------------------

    def start_server(self) -> Server:
        server = Server(self.consortium_file, self.port, self.store_url)
        self.servers.append(server)
        server.start()
        self.server = server
        return server

    def stop_server(self) -> None:
        """Stops the coordinator; asserts it exits 0 within 15 s."""
        server = self.server
        assert server is not None
        code = server.stop()
        assert code == 0, (f"labmatch serve exited {code} after SIGTERM "
                           f"(None: not within {STOP_TIMEOUT} s):\n"
                           + server.stderr_text[-3000:])

    def restart_fresh(self) -> Server:
        """Stop the coordinator and start a new one on an empty store,
        on the same address (lab directories are left alone)."""
        self.stop_server()
        if self.store == "sqlite":
            path = self.tmp / f"store-{len(self.servers)}.sqlite3"
            self.sqlite_paths.append(path)
            self.store_url = f"sqlite:{path}"
        else:
            _flush_redis(self.store_url)
        return self.start_server()

    # -- labs ----------------------------------------------------------

    def sync_argv(self, lab: str, inputs: Path | Sequence[Path],
                  output: Path | None, *extra: str, epoch: str | None = None,
                  verbose: bool = False) -> list[str]:
        argv = [str(LABMATCH)]
        if verbose:
            argv.append("-v")
        argv += ["sync", "--lab", str(self.lab_dir(lab))]
        for path in ([inputs] if isinstance(inputs, Path) else inputs):
            argv += ["--input", str(path)]
        if output is not None:
            argv += ["--output", str(output)]
        argv += ["--epoch", epoch or self.epoch, *extra]
        return argv

    def sync(self, lab: str, inputs: Path | Sequence[Path],
             output: Path | None, *extra: str, epoch: str | None = None,
             verbose: bool = False,
             timeout: float = SYNC_TIMEOUT) -> tuple[int, str, str]:
        """Runs ``labmatch sync``; returns (exit code, stdout, stderr)."""
        argv = self.sync_argv(lab, inputs, output, *extra, epoch=epoch,
                              verbose=verbose)
        return self.run(argv, timeout=timeout)

    def run(self, argv: list[str],
            timeout: float = SYNC_TIMEOUT) -> tuple[int, str, str]:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout,
                              env=_env())
        self.runs.append(Run(argv, proc.returncode, proc.stdout,
                             proc.stderr))
        return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
                proc.stderr.decode("utf-8", "replace"))

    def popen_sync(self, lab: str, inputs: Path, output: Path, *extra: str,
                   verbose: bool = False) -> subprocess.Popen:
        return subprocess.Popen(
            self.sync_argv(lab, inputs, output, *extra, verbose=verbose),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=_env())

    def collect(self, argv: list[str], proc: subprocess.Popen,
                timeout: float = SYNC_TIMEOUT) -> tuple[int, str, str]:
        """Waits for a popen_sync process and records it like run()."""
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"{argv} did not finish within {timeout} s")
        self.runs.append(Run(argv, proc.returncode, out, err))
        return (proc.returncode, out.decode("utf-8", "replace"),
                err.decode("utf-8", "replace"))

    def run_passes(self, inputs: dict[str, Path], outputs: dict[str, Path],
                   passes: int = 2, verbose: bool = False,
                   ) -> list[dict[str, tuple[int, str, str]]]:
        """Syncs the labs in order (a, b, c), ``passes`` times."""
        results = []
        for _ in range(passes):
            results.append({lab: self.sync(lab, inputs[lab], outputs[lab],
                                           verbose=verbose)
                            for lab in inputs})
        return results

    # -- files ---------------------------------------------------------

    def write_input(self, name: str, rows: Iterable[Sequence[str]],
                    header: Sequence[str] = ("kind", "value", "ref"),
                    ) -> Path:
        path = self.tmp / name
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        return path

    def output_path(self, name: str) -> Path:
        return self.tmp / name


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(params=["sqlite",
                        pytest.param("redis", marks=pytest.mark.redis)])
def harness(request, tmp_path) -> Iterator[Harness]:
    """A consortium (a, b, c) and a running coordinator on one store.

    Teardown sends SIGTERM and asserts the coordinator exits 0 within 15 s
    and never logged an internal error.
    """
    store = request.param
    port = free_port()
    directory = tmp_path / "consortium"
    kinds = request.node.get_closest_marker("kinds")
    init = subprocess.run(
        [str(LABMATCH), "consortium", "init", str(directory),
         "--labs", ",".join(LABS), "--coordinator", f"127.0.0.1:{port}",
         *(["--kinds", kinds.args[0]] if kinds else [])],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
        env=_env())
    assert init.returncode == 0, init.stderr.decode("utf-8", "replace")
    redis_url = None
    if store == "sqlite":
        path = tmp_path / "store.sqlite3"
        store_url = f"sqlite:{path}"
        sqlite_paths = [path]
    else:
        redis_url = request.getfixturevalue("redis_url")
        store_url = redis_url
        sqlite_paths = []
    h = Harness(store=store, tmp=tmp_path, directory=directory, port=port,
                epoch=today_utc(), store_url=store_url, redis_url=redis_url,
                sqlite_paths=sqlite_paths)
    h.runs.append(Run(list(map(str, init.args)), init.returncode,
                      init.stdout, init.stderr))
    h.start_server()
    try:
        yield h
    finally:
        # Shown by pytest only when the test fails.
        for i, server in enumerate(h.servers):
            print(f"--- labmatch serve #{i} stderr ---\n"
                  + server.stderr_text[-6000:])
        if h.server is not None and (h.server.running
                                     or h.server.exit_code is None):
            h.stop_server()
        for server in h.servers:
            log = server.stderr_text
            assert "Traceback" not in log and "status=INTERNAL" not in log, \
                "the coordinator hit an internal error (log above)"


# -- expected results, computed from the plaintext sets ------------------

# Levels, finest first, and the order rows of one input row come in.
KNOWN_LEVELS = ("exact", "ip4/24")


def _ipv4_cell(kind: str, value: str) -> str | None:
    """The /24 an IPv4 ``ip`` value lies in (None for anything else)."""
    if kind != "ip":
        return None
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if ip.version != 4:
        return None
    return str(ipaddress.ip_network(f"{ip}/24", strict=False))


def _expected(holdings: dict[str, list[Holding]],
              ) -> dict[str, list[OutputRow]]:
    """Per lab, the output rows a perfect matcher writes, in input order.

    Values are assumed canonical already, so an exact match is plain
    equality of (kind, value). An IPv4 row also matches at level
    ``ip4/24`` the labs holding any address of the same /24; such rows
    follow the row's ``exact`` row.
    """
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    cell_owners: dict[str, set[str]] = defaultdict(set)
    for lab, rows in holdings.items():
        for kind, value, _ in rows:
            owners[(kind, value)].add(lab)
            cell = _ipv4_cell(kind, value)
            if cell is not None:
                cell_owners[cell].add(lab)
    out = {}
    for lab, rows in holdings.items():
        out[lab] = []
        for kind, value, ref in rows:
            peers = owners[(kind, value)] - {lab}
            if peers:
                out[lab].append((kind, value, ref, "exact",
                                 ";".join(sorted(peers))))
            cell = _ipv4_cell(kind, value)
            cell_peers = cell_owners[cell] - {lab} if cell else set()
            if cell_peers:
                out[lab].append((kind, value, ref, "ip4/24",
                                 ";".join(sorted(cell_peers))))
    return out


@pytest.fixture
def expected_outputs() -> Callable[[dict[str, list[Holding]]],
                                   dict[str, list[OutputRow]]]:
    """Function: holdings per lab -> expected output rows per lab (every
    level; see check_output for how levels are compared)."""
    return _expected


def _read_output(path: Path) -> list[OutputRow]:
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf"), "output starts with a BOM"
    assert b"\r" not in data, "output has CR line endings"
    text = data.decode("utf-8")
    assert text.startswith(HEADER), f"bad header: {text[:60]!r}"
    assert text.endswith("\n")
    rows = list(csv.reader(text.splitlines()[1:]))
    assert all(len(r) == 5 for r in rows), "rows without 5 columns"
    return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def read_output() -> Callable[[Path], list[OutputRow]]:
    """Function: reads an output file, asserting its format (header
    exactly ``kind,value,ref,level,peers``, ``\\n`` endings, no BOM)."""
    return _read_output


def _diff(got: list[OutputRow], want: list[OutputRow]) -> str:
    extra = [r for r in got if r not in set(want)]
    missing = [r for r in want if r not in set(got)]
    return (f"{len(got)} rows, {len(want)} expected; {len(extra)} "
            f"unexpected, {len(missing)} missing; first unexpected "
            f"{extra[:1]}, first missing {missing[:1]}"
            + ("; same rows, wrong order" if not extra and not missing
               else ""))


def _check_output(path: Path, want: list[OutputRow]) -> list[OutputRow]:
    got = _read_output(path)
    levels = {row[3] for row in got}
    assert levels <= set(KNOWN_LEVELS), f"unknown levels {levels}"
    exact_got = [r for r in got if r[3] == "exact"]
    exact_want = [r for r in want if r[3] == "exact"]
    assert exact_got == exact_want, "level exact: " + _diff(exact_got,
                                                           exact_want)
    present = levels | {"exact"}
    want_present = [r for r in want if r[3] in present]
    assert got == want_present, "all levels: " + _diff(got, want_present)
    return got


@pytest.fixture
def check_output() -> Callable[[Path, list[OutputRow]], list[OutputRow]]:
    """Function(path, expected rows): asserts the file's format and that
    its rows are exactly the expected ones, in order.

    Rows at level ``exact`` must always equal the expectation. A coarser
    level (``ip4/24``) is optional, as the README documents only
    ``exact``; but if the output has any row at that level, its rows at
    that level must equal the expectation too.
    """
    return _check_output


# -- plaintext data --------------------------------------------------------

_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN_DOMAIN = re.compile(rf"(?:{_DNS_LABEL}\.)+{_DNS_LABEL}")


def _plain_domain(name: str) -> bool:
    """ASCII LDH names in lowercase, no punycode, no '--' in 3rd/4th place
    (IDNA refuses those), at least two labels."""
    if not _PLAIN_DOMAIN.fullmatch(name) or len(name) > 253:
        return False
    return all(label[2:4] != "--" for label in name.split("."))


@pytest.fixture(scope="session")
def public_values(public_data) -> dict[str, list[str]]:
    """Already-canonical values of the real public lists, per kind, sorted:
    global IPv4 exit nodes, plain lowercase domains, every wallet of the
    OFAC list as written there (distinct)."""
    ips = set()
    for line in (public_data / "tor_exit_nodes.txt").read_text().split():
        try:
            ip = ipaddress.ip_address(line)
        except ValueError:
            continue
        if ip.version == 4 and ip.is_global and str(ip) == line:
            ips.add(line)
    domains = {
        line.strip() for line in
        (public_data / "disposable_email_domains.txt").read_text()
        .splitlines() if _plain_domain(line.strip())}
    with open(public_data / "ofac_digital_currency_addresses.csv",
              newline="", encoding="utf-8") as f:
        wallets = {row["address"].strip() for row in csv.DictReader(f)
                   if row["address"].strip()}
    # Two spellings of one EVM address would make plain equality wrong.
    assert len({w.lower() for w in wallets if w.startswith("0x")}) == \
        len([w for w in wallets if w.startswith("0x")])
    return {"ip": sorted(ips), "domain": sorted(domains),
            "wallet": sorted(wallets)}


@pytest.fixture
def overlapping_holdings(
        public_values) -> Callable[..., dict[str, list[Holding]]]:
    """Function(seed, per_kind=300, p=0.55): per lab, rows (kind, value,
    ref) drawn from the public lists: each lab holds each value with
    probability p, rows shuffled, refs unique per lab."""

    def make(seed: int, per_kind: int = 300,
             p: float = 0.55) -> dict[str, list[Holding]]:
        rng = random.Random(seed)
        pairs: dict[str, list[tuple[str, str]]] = {lab: [] for lab in LABS}
        for kind, values in public_values.items():
            chosen = rng.sample(values, per_kind)
            for value in chosen:
                for lab in LABS:
                    if rng.random() < p:
                        pairs[lab].append((kind, value))
        out = {}
        for lab, rows in pairs.items():
            rng.shuffle(rows)
            out[lab] = [(kind, value, f"{lab}-{i:05d}-{rng.randrange(10**6)}")
                        for i, (kind, value) in enumerate(rows)]
        return out

    return make


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()
