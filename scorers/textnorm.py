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


def _ascii_table(lowercase: bool, collapse_whitespace: bool, strip_punctuation: bool,
                 normalize_digits: bool) -> bytes:
    """A bytes.translate table doing, for ASCII, what the str normaliser does."""
    table = bytearray(range(256))
    for b in range(128):
        c = chr(b)
        if lowercase and c.isupper():
            table[b] = ord(c.lower())
        elif (collapse_whitespace and c.isspace()) or (  # isspace: \x1c-\x1f too, as str.split
            strip_punctuation and not c.isalnum() and not c.isspace()
        ):
            table[b] = 0x20
        elif normalize_digits and c.isdigit():
            table[b] = 0x30
    return bytes(table)


def make_hasher(
    lowercase: bool = True,
    collapse_whitespace: bool = True,
    strip_punctuation: bool = False,
    normalize_digits: bool = False,
) -> Callable[[str], str]:
    """text -> hash of its normalised form; the same result as
    `text_hash(make_normalizer(...)(text))`, 3-5x faster on ASCII text because the
    normalisation runs as one bytes.translate plus C-level space collapsing.
    """
    normalize = make_normalizer(lowercase, collapse_whitespace, strip_punctuation,
                                normalize_digits)
    table = _ascii_table(lowercase, collapse_whitespace, strip_punctuation, normalize_digits)
    digest = xxhash.xxh3_128_hexdigest

    def hash_text(text: str) -> str:
        if not text.isascii():
            return digest(normalize(text).encode("utf-8", "surrogatepass"))
        data = text.encode("ascii").translate(table)
        if collapse_whitespace:
            while b"  " in data:
                data = data.replace(b"  ", b" ")
            data = data.strip(b" ")
        return digest(data)

    return hash_text
