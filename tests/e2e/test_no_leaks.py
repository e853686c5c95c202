"""After a full three-lab run, neither the coordinator's store nor anything
any process printed holds an input value, a plain hash of one, or key
material."""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import re

import pytest

pytestmark = pytest.mark.e2e

LABS = ("a", "b", "c")
MIN_NEEDLE = 6  # shorter byte strings turn up by chance in random data
HEX64 = re.compile(rb"[0-9a-fA-F]{64}")


def _full_run(h, holdings, verbose=False):
    """Syncs a, b, c twice; asserts pass 2 is complete for everyone."""
    inputs = {lab: h.write_input(f"{lab}.csv", holdings[lab])
              for lab in LABS}
    outputs = {lab: h.output_path(f"{lab}.out.csv") for lab in LABS}
    results = h.run_passes(inputs, outputs, passes=2, verbose=verbose)
    assert {lab: r[0] for lab, r in results[1].items()} == \
        {lab: 0 for lab in LABS}, \
        {lab: r[2][-2000:] for lab, r in results[1].items()}
    return outputs


def _forms(kind: str, value: str) -> tuple[set[str], set[str]]:
    """(canonical spellings, other spellings) of a value."""
    canonical = {value}
    if kind == "ip":
        ip = ipaddress.ip_address(value)
        canonical |= {ip.compressed, ip.exploded}
    elif kind == "domain":
        canonical.add(value.lower().rstrip("."))
    elif value.startswith("0x"):
        canonical.add(value.lower())
    other = {value.upper(), value.lower(), value + "."} - canonical
    return canonical, other


def _internal_messages(kind: str, value: str) -> set[bytes]:
    """labmatch's own canonical encodings, where the API offers them."""
    try:
        from labmatch.psi.identifiers import canonicalise

        return {bytes(item.message) for item in canonicalise(kind, value)}
    except Exception:  # the leak scan must not depend on this API
        return set()


def _hashes(data: bytes) -> set[bytes]:
    out = set()
    for algo in (hashlib.sha256, hashlib.sha512):
        digest = algo(data)
        out |= {digest.digest(), digest.hexdigest().encode(),
                digest.hexdigest().upper().encode()}
    return out


def _value_needles(holdings) -> dict[bytes, str]:
    """needle -> description (never printed with the value itself):
    each value's spellings, labmatch's own encoding of it, and the SHA-256
    and SHA-512 (raw and hex) of the canonical ones."""
    needles: dict[bytes, str] = {}
    for lab, rows in holdings.items():
        for kind, value, ref in rows:
            desc = f"{kind} value of {lab} row {ref}"
            canonical, other = _forms(kind, value)
            hashed = {f.encode() for f in canonical}
            hashed |= _internal_messages(kind, value)
            for form in hashed | {f.encode() for f in other}:
                needles[form] = desc
            for form in hashed:
                for needle in _hashes(form):
                    needles[needle] = desc
    return {n: d for n, d in needles.items() if len(n) >= MIN_NEEDLE}


class _Hay:
    """Bytes to search, with the parts where text and hex needles can
    occur pulled out, so thousands of needles scan quickly and exactly:
    a printable needle lies inside one run of printable bytes, and a
    needle of 64 or more hex digits inside one run of hex digits."""

    HEX_RUN = re.compile(rb"[0-9a-fA-F]{64,}")
    TEXT_RUN = re.compile(rb"[\x20-\x7e]{%d,}" % MIN_NEEDLE)
    HEX = re.compile(rb"[0-9a-fA-F]{64,}")
    TEXT = re.compile(rb"[\x20-\x7e]+")

    def __init__(self, data: bytes) -> None:
        self.raw = data
        self.hex = b"\n".join(m.group().lower()
                              for m in self.HEX_RUN.finditer(data))
        self.text = b"\n".join(self.TEXT_RUN.findall(data))

    def __contains__(self, needle: bytes) -> bool:
        if self.HEX.fullmatch(needle):
            return needle.lower() in self.hex
        if self.TEXT.fullmatch(needle):
            return needle in self.text
        return needle in self.raw


def _found(needles: dict[bytes, str], data: bytes) -> list[str]:
    hay = _Hay(data)
    return sorted({desc for needle, desc in needles.items()
                   if needle in hay})


def _holdings(overlapping_holdings):
    return overlapping_holdings(seed=99, per_kind=300)


# (a) the store -----------------------------------------------------------


def _dump_sqlite(h) -> list[bytes]:
    blobs = []
    for path in h.sqlite_paths:
        for f in sorted(path.parent.glob(path.name + "*")):
            if f.is_file():
                blobs.append(f.read_bytes())
    return blobs


def _dump_redis(url: str) -> list[bytes]:
    import redis

    r = redis.Redis.from_url(url)
    out = []
    try:
        for key in r.scan_iter(count=1000):
            out.append(key)
            kind = r.type(key)
            if kind == b"string":
                out.append(r.get(key) or b"")
            elif kind == b"hash":
                for k, v in r.hgetall(key).items():
                    out += [k, v]
            elif kind == b"list":
                out += r.lrange(key, 0, -1)
            elif kind == b"set":
                out += list(r.smembers(key))
            elif kind == b"zset":
                out += [m for m, _ in r.zrange(key, 0, -1)]
            elif kind == b"stream":
                for _, fields in r.xrange(key):
                    for k, v in fields.items():
                        out += [k, v]
            elif kind == b"none":
                continue  # expired between SCAN and TYPE
            else:
                pytest.fail(f"unexpected Redis type {kind!r} at {key!r}")
    finally:
        r.close()
    return out


def _dump_store(h) -> bytes:
    blobs = _dump_sqlite(h) if h.store == "sqlite" else \
        _dump_redis(h.store_url)
    return b"\x00".join(blobs)


def test_store_holds_no_values_or_hashes(harness, overlapping_holdings):
    """Every byte of the store, during and after the run, is free of every
    input value, canonical form, and SHA-256/SHA-512 (raw and hex) of
    them."""
    h = harness
    holdings = _holdings(overlapping_holdings)
    _full_run(h, holdings)
    consortium_id = re.search(
        r'consortium_id = "([0-9a-f]+)"',
        h.consortium_file.read_text()).group(1)

    during = _dump_store(h)
    h.stop_server()
    after = _dump_store(h)

    needles = _value_needles(holdings)
    assert len(needles) > 1000
    for hay in (during, after):
        # The dump really is the run's store: blinded uploads of ~1,500
        # items are at least 32 bytes each.
        assert len(hay) > 32 * 1000
        if h.store == "redis":
            assert f"labmatch:{consortium_id}:".encode() in hay
        found = _found(needles, hay)
        assert not found, f"{len(found)} leaks, e.g. {found[:5]}"
    # The scan itself finds a value, and a hash of one, put in the dump.
    kind, value, ref = holdings["b"][0]
    own = _value_needles({"b": [holdings["b"][0]]})
    planted = hashlib.sha512(value.encode()).hexdigest().encode()
    assert _found(own, during + b"\x00" + planted)
    assert _found(own, after[:100] + value.encode() + after[100:])


# (b) everything printed ----------------------------------------------------


def _pem_body_lines(pem: bytes) -> set[bytes]:
    return {line.strip() for line in pem.splitlines()
            if line.strip() and not line.startswith(b"-----")}


def _key_needles(h) -> dict[bytes, str]:
    needles: dict[bytes, str] = {}

    def add(data: bytes, desc: str) -> None:
        for needle in (data, data.hex().encode(), data.hex().upper().encode(),
                       base64.b64encode(data), base64.urlsafe_b64encode(data),
                       base64.b64encode(data).rstrip(b"=")):
            if len(needle) >= MIN_NEEDLE:
                needles[needle] = desc

    key_files = [h.lab_dir(lab) / name for lab in LABS
                 for name in ("seed.key", "signing.key", "sealing.key",
                              "tls.key")]
    key_files += [h.directory / "coordinator" / "tls.key",
                  h.directory / "ca" / "ca.key"]
    for path in key_files:
        desc = str(path.relative_to(h.directory))
        assert path.is_file(), f"{desc} missing after the run"
        data = path.read_bytes()
        if path.name == "seed.key":
            assert len(data) == 32, desc
            add(data, desc)
        elif path.name in ("signing.key", "sealing.key"):
            text = data.strip()
            assert re.fullmatch(rb"[0-9a-f]{64}", text), desc
            add(bytes.fromhex(text.decode()), desc)
        else:
            assert data.startswith(b"-----BEGIN"), desc
            body = _pem_body_lines(data)
            assert body, desc
            for line in body:
                needles[line] = desc
            add(base64.b64decode(b"".join(body)), desc)
    return needles


def test_logs_hold_no_values_hashes_or_keys(harness, overlapping_holdings):
    """Everything the coordinator (INFO log) and every verbose sync printed
    is free of input values, their hashes, key material and any 64-hex
    run."""
    h = harness
    holdings = _holdings(overlapping_holdings)
    _full_run(h, holdings, verbose=True)
    # One more verbose pass with a bad row and a changed input, whose
    # messages must not leak either.
    bad = h.write_input("a-bad.csv", holdings["a"][:-1]
                        + [("ip", "10.9.8.7", "x"), ("email", "q@q-x.example",
                                                     "y")])
    code, _, _ = h.sync("a", bad, h.output_path("a-bad.out.csv"),
                        verbose=True)
    assert code == 1
    h.stop_server()

    printed = []
    for server in h.servers:
        printed += server.stderr_lines + server.stdout_lines
    for run in h.runs:
        printed += [run.stdout, run.stderr]
    logs = b"\n".join(printed)
    # The server logged at INFO and the syncs printed their summaries.
    assert b"listening on" in logs and b"INFO" in logs
    assert logs.count(b"status: complete") >= 3

    value_needles = _value_needles(holdings)
    value_needles.update({v: "a bad row's value" for v in
                          (b"10.9.8.7", b"q@q-x.example")})
    found = _found(value_needles, logs)
    assert not found, f"{len(found)} values or hashes printed: {found[:5]}"
    key_needles = _key_needles(h)
    found = _found(key_needles, logs)
    assert not found, f"key material printed: {found}"
    # The scan itself finds a key printed as hex.
    sealing = (h.lab_dir("b") / "sealing.key").read_bytes().strip()
    assert _found(key_needles, logs + b"\n" + sealing.upper())
    runs = [m.group().decode() for m in HEX64.finditer(logs)]
    assert not runs, f"{len(runs)} runs of 64 hex digits printed"
