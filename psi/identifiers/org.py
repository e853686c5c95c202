"""Organisation names (input kind ``org``).

Names are matched exactly after canonicalisation, so the rule decides
which spellings are one organisation. Steps, in order:

1. Invisible characters go: format characters (zero-width space and
   joiners, soft hyphen, byte-order mark, direction marks) are removed,
   control characters become spaces if they are whitespace (tab, line
   ends) and are removed otherwise.
2. Unicode NFKC and case folding, repeated until stable, so full-width
   letters, ligatures, NFC and NFD spellings and every case agree.
3. ``&`` becomes `` and ``; apostrophes are removed (``Macy's`` is
   ``Macys``).
4. Dotted single letters are joined: ``L.L.C.`` is ``LLC``, ``S.A. de
   C.V.`` is ``SA de CV``, ``J. P. Morgan`` is ``JP Morgan``.
5. Every character that is not a letter, mark or digit (of any script)
   becomes a space, and the text is split into words; a run of
   single-letter words is joined into one (``L L C`` is ``LLC``).
6. Legal forms are removed, repeatedly, from the end (``Co., Ltd.``)
   and, for the forms written before a name, from the start (``OOO``,
   ``Limited Liability Company``, ``株式会社``), using the versioned list
   in :mod:`.org_legal_forms`. A form is never removed if nothing would
   be left: ``Limited Inc`` is ``limited``.

The canonical text is the remaining words joined by single spaces.
So ``ACME, Inc.``, ``Acme Inc``, ``ACME INC.`` and ``acme incorporated``
are one item, and ``NEW ACME LTD`` is not ``ACME LTD``. Accents and
scripts are kept (``Société`` is not ``Societe``), and no word other
than a legal form is dropped. The list and the steps are the ``c1`` in
``org.name.c1``: changing either needs a new kind code.

Refused as ``invalid-org`` when no letter or digit is left, and as
``value-too-long`` when folding grows a name past :data:`MAX_CHARS`.
"""
from __future__ import annotations

import re
import unicodedata

from ..encoding import text_message
from ..errors import IdentifierRefused
from . import org_legal_forms
from ._common import LEVEL_EXACT, Canonical, MatchItem

__all__ = ["KIND", "KINDS", "MAX_CHARS", "SUFFIX_FORMS", "PREFIX_FORMS",
           "canonical", "canonical_text", "fold", "strip_legal_forms"]

KIND = "org.name.c1"
KINDS = (KIND,)
MAX_CHARS = 1024

Words = tuple[str, ...]

_APOSTROPHES = str.maketrans("", "", "'\u2018\u2019\u02bc\u0060")
_DOTTED = re.compile(r"(?<![^\W_])[^\W\d_](?:\.\s*[^\W\d_])+(?![^\W_])")
_NOT_IN_DOTTED = re.compile(r"[.\s]")
_MAX_FOLD_ROUNDS = 4


def canonical(value: str) -> Canonical:
    """Canonical text and item of ``value`` (already stripped)."""
    text = canonical_text(value)

    return Canonical(text, (MatchItem(KIND, text_message(text),
                                      LEVEL_EXACT),))


def canonical_text(value: str) -> str:
    """The canonical name, or raise :class:`IdentifierRefused`."""
    words = strip_legal_forms(fold(value))
    if not words:
        raise IdentifierRefused(
            "invalid-org", "no letter or digit in the name")

    text = " ".join(words)
    if len(text) > MAX_CHARS:
        raise IdentifierRefused(
            "value-too-long", f"name longer than {MAX_CHARS} characters "
            "after folding")

    return text


def fold(text: str) -> Words:
    """Steps 1 to 5: the words of ``text``, legal forms still on."""
    text = _nfkc_casefold(_without_invisibles(text))
    text = text.replace("&", " and ").translate(_APOSTROPHES)
    text = _DOTTED.sub(lambda m: _NOT_IN_DOTTED.sub("", m.group()), text)
    spaced = "".join(c if _is_word_char(c) else " " for c in text)

    return _join_single_letters(tuple(spaced.split()))


def strip_legal_forms(words: Words) -> Words:
    """Step 6: remove legal forms from both ends until none is left to
    remove, never removing the last word."""
    while True:
        stripped = _cut_suffix(words) or _cut_prefix(words)
        if stripped is None:
            return words
        words = _join_single_letters(stripped)


def _without_invisibles(text: str) -> str:
    kept = []
    for c in text:
        category = unicodedata.category(c)
        if category == "Cc":
            c = " " if c.isspace() else ""
        elif category == "Cf":
            c = ""
        kept.append(c)

    return "".join(kept)


def _nfkc_casefold(text: str) -> str:
    """NFKC then case folding until stable: one round is not always a
    fixed point (folding can produce text NFKC changes again)."""
    for _ in range(_MAX_FOLD_ROUNDS):
        folded = unicodedata.normalize("NFKC", text).casefold()
        folded = unicodedata.normalize("NFKC", folded)
        if folded == text:
            break
        text = folded

    return text


def _is_word_char(c: str) -> bool:
    return unicodedata.category(c)[0] in "LMN"


def _join_single_letters(words: Words) -> Words:
    """Join each run of single-letter words: ``a b c x`` is ``abc x``."""
    joined: list[str] = []
    previous_single = False
    for word in words:
        single = len(word) == 1 and word.isalpha()
        if single and previous_single:
            joined[-1] += word
        else:
            joined.append(word)
        previous_single = single

    return tuple(joined)


def _cut_suffix(words: Words) -> Words | None:
    """``words`` without the longest legal form ending them, or None."""
    for form in SUFFIX_FORMS:
        if len(words) > len(form) and words[-len(form):] == form:
            return words[:-len(form)]
        if form in _UNSPACED_SUFFIXES and words:
            last, end = words[-1], form[0]
            if len(last) > len(end) and last.endswith(end):
                return (*words[:-1], last[:-len(end)])

    return None


def _cut_prefix(words: Words) -> Words | None:
    """``words`` without the longest legal form starting them, or None."""
    for form in PREFIX_FORMS:
        if len(words) > len(form) and words[:len(form)] == form:
            return words[len(form):]
        if form in _UNSPACED_PREFIXES and words:
            first, start = words[0], form[0]
            if len(first) > len(start) and first.startswith(start):
                return (first[len(start):], *words[1:])

    return None


# Legal forms, folded with the same steps as names.

def _is_unspaced_script(text: str) -> bool:
    """Han or kana only: written without spaces, so a form may end (or
    begin) a longer word."""
    return all(unicodedata.name(c, "").startswith(
        ("CJK UNIFIED", "CJK COMPATIBILITY", "HIRAGANA", "KATAKANA"))
        for c in text)


def _forms(entries: tuple[str, ...]) -> tuple[Words, ...]:
    """Folded forms, longest first (in words, then in letters)."""
    folded = {fold(entry) for entry in entries}

    return tuple(sorted(folded, key=lambda w: (-len(w), -len("".join(w)),
                                               w)))


def _unspaced(forms: tuple[Words, ...]) -> frozenset[Words]:
    return frozenset(f for f in forms
                     if len(f) == 1 and _is_unspaced_script(f[0]))


SUFFIX_FORMS = _forms(org_legal_forms.SUFFIXES)
PREFIX_FORMS = _forms(org_legal_forms.PREFIXES)
_UNSPACED_SUFFIXES = _unspaced(SUFFIX_FORMS)
_UNSPACED_PREFIXES = _unspaced(PREFIX_FORMS)
