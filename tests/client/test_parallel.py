"""Crypto work on worker processes gives the same bytes as in-process."""
from __future__ import annotations

import pytest

from labmatch.client import parallel
from labmatch.client.parallel import Crypto
from labmatch.psi.encoding import text_message
from labmatch.psi.errors import InvalidElement

CID = "0123456789abcdef"
KIND = "domain.name.c1"
MESSAGES = [text_message(f"d{i}.example.com") for i in range(300)]


@pytest.fixture
def small_slices(monkeypatch):
    """Make a few hundred items take the multi-process path."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_ITEMS", 10)
    monkeypatch.setattr(parallel, "SLICE_ITEMS", 64)


def crypto(workers: int) -> Crypto:
    return Crypto(bytes(range(32)), consortium_id=CID, lab="a",
                  epoch="2026-12-04", workers=workers)


class TestParallelCrypto:
    def test_blind_on_workers_equals_in_process(self, small_slices):
        """Two workers return exactly the in-process elements, in order."""
        with crypto(1) as one, crypto(2) as two:
            assert (two.blind(KIND, MESSAGES, lambda d, n: None)
                    == one.blind(KIND, MESSAGES, lambda d, n: None))

    def test_evaluate_on_workers_equals_in_process(self, small_slices):
        """Tokens over a sorted upload do not depend on the worker count."""
        with crypto(1) as one, crypto(2) as two:
            upload = sorted(one.blind(KIND, MESSAGES, lambda d, n: None))
            assert (two.evaluate(KIND, "b", upload, lambda d, n: None)
                    == one.evaluate(KIND, "b", upload, lambda d, n: None))

    def test_evaluate_unsorted_across_slices_refused(self, small_slices):
        """An upload sorted within slices but not across them is refused."""
        with crypto(2) as two:
            upload = sorted(two.blind(KIND, MESSAGES, lambda d, n: None))
            swapped = upload[64:128] + upload[:64] + upload[128:]
            with pytest.raises(InvalidElement):
                two.evaluate(KIND, "b", swapped, lambda d, n: None)

    def test_invalid_element_in_worker_refused(self, small_slices):
        """A bad element found by a worker surfaces as InvalidElement."""
        with crypto(2) as two:
            upload = sorted(two.blind(KIND, MESSAGES, lambda d, n: None))
            upload[200] = bytes(32)          # the identity
            upload.sort()
            with pytest.raises(InvalidElement):
                two.evaluate(KIND, "b", upload, lambda d, n: None)

    def test_progress_reaches_total(self, small_slices):
        """Progress is reported up to the full count."""
        seen = []
        with crypto(2) as two:
            two.blind(KIND, MESSAGES, lambda d, n: seen.append((d, n)))
        assert seen[-1] == (len(MESSAGES), len(MESSAGES))


def test_zero_workers_refused():
    """Zero workers is an error, not a silent 'one per CPU'."""
    with pytest.raises(ValueError):
        crypto(0)
