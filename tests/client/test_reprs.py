"""Lab-side objects that hold identifiers or blinded points never show
them in their repr (so never in a log line or a traceback)."""
from __future__ import annotations

from labmatch.client.outputs import MatchRow
from labmatch.client.state import CachedUpload
from labmatch.client.sync import KindItems

SECRET = "81.2.69.5-secret-value"


def test_match_row_repr_hides_value():
    """An output row's repr names kind, ref, level and peers only."""
    text = repr(MatchRow("ip", SECRET, "r1", "exact", ("b",)))
    assert SECRET not in text and "r1" in text


def test_kind_items_repr_hides_messages():
    """The canonical messages of a kind are not in its repr."""
    items = KindItems("domain.name.c1")
    items.add(SECRET.encode(), "exact", 0)
    assert SECRET not in repr(items) and "domain.name.c1" in repr(items)


def test_cached_upload_repr_hides_elements_and_digests():
    """Blinded elements and digests stay out of the cached upload's repr."""
    element = bytes(range(32))
    up = CachedUpload(b"\x11" * 32, b"\x22" * 32, [element], [0])
    text = repr(up)
    for secret in (element, b"\x11" * 32, b"\x22" * 32):
        assert repr(secret) not in text and secret.hex() not in text
