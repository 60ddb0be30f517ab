"""Text normalisation: for storage (lossless in meaning) and for duplicate hashing (lossy).

Storage keeps meaning: valid UTF-8, Unicode NFC, `\\n` line endings. Hashing
normalisation folds what a reader would not call a difference (case, spacing,
punctuation, digits, accents), each switchable.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import xxhash

_PUNCT = re.compile(r"[^\w\s]|_")
_DIGIT = re.compile(r"\d")


def for_storage(text: str) -> str:
    """NFC and '\\n' line endings; everything else untouched.

    >>> for_storage("Cafe\\u0301\\r\\nok")
    'Café\\nok'
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text


def strip_accents(text: str) -> str:
    """'Crème brûlée' -> 'Creme brulee' (drops combining marks after NFD)."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def make_normalizer(
    lowercase: bool = True,
    collapse_whitespace: bool = True,
    strip_punctuation: bool = False,
    normalize_digits: bool = False,
    remove_accents: bool = False,
) -> Callable[[str], str]:
    """Build the hashing normaliser for a set of switches.

    Punctuation becomes a space (so 'end.Start' and 'end. Start' agree once whitespace
    is collapsed); digits become '0'.

    >>> make_normalizer(strip_punctuation=True)("Hello,   World!")
    'hello world'
    """

    def normalize(text: str) -> str:
        if lowercase:
            text = text.lower()
        if remove_accents:
            text = strip_accents(text)
        if strip_punctuation:
            text = _PUNCT.sub(" ", text)
        if normalize_digits:
            text = _DIGIT.sub("0", text)
        if collapse_whitespace:
            text = " ".join(text.split())
        return text

    return normalize


def text_hash(normalized: str) -> str:
    """128-bit content hash (hex); collisions are negligible at web scale."""
    return xxhash.xxh3_128_hexdigest(normalized.encode("utf-8", "surrogatepass"))
