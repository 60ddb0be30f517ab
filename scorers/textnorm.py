"""Text normalisation: for storage (lossless in meaning) and for duplicate hashing (lossy).

Storage keeps meaning: valid UTF-8, Unicode NFC, `\\n` line endings. Hashing
normalisation folds what a reader would not call a difference (case, spacing,
punctuation, digits, accents), each switchable.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

_PUNCT = re.compile(r"[^\w\s]|_")  # not letter, number or space
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
    """Build the hashing normaliser for one string; the definition `hash_texts` follows.

    Lowercasing is Unicode's simple one-to-one mapping ('İ' -> 'i', and 'Σ' -> 'σ' even at
    the end of a word), because that is what Arrow's vectorised kernel does. Arrow's
    Unicode tables can be newer than Python's: `normalize_array` is the definition used
    for hashing, and this function equals it on characters both versions assign. Punctuation
    (anything but letters, numbers and whitespace) becomes a space, so 'end.Start' and
    'end. Start' agree once whitespace is collapsed; digits become '0'; whitespace is what
    `str.split()` splits on.

    >>> make_normalizer(strip_punctuation=True)("Hello,   World!")
    'hello world'
    """

    def normalize(text: str) -> str:
        if lowercase:
            # str.lower() applies two context/length-changing special cases; undo them.
            text = text.replace("\u0130", "i").replace("\u03a3", "\u03c3").lower()
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


# -- the same normalisation over a whole Arrow string array, for hashing at scale ----------
# str.lower()/str.split() on a batch cost ~75 MB/s; these kernels run at several hundred MB/s
# on the UTF-8 bytes and mostly outside the GIL.

_SPACES = [chr(c) for c in range(0x10000) if chr(c).isspace()]  # what str.split() splits on
# RE2 patterns; RE2's \s is ASCII-only, so whitespace is spelled out.
_ARROW_PUNCT = "[^\\p{L}\\p{N}" + "".join(f"\\x{{{ord(c):x}}}" for c in _SPACES) + "]"
_ARROW_DIGIT = r"\p{Nd}"
# Whitespace beyond ASCII, as UTF-8 (2- and 3-byte sequences).
_CHUNK_BYTES = 512 * 1024
_WIDE_SPACES = [c for c in _SPACES if not c.isascii()]
_WIDE2 = np.array([int.from_bytes(c.encode()) for c in _WIDE_SPACES if len(c.encode()) == 2])
_WIDE3 = np.array([int.from_bytes(c.encode()) for c in _WIDE_SPACES if len(c.encode()) == 3])


def normalize_array(
    texts: pa.Array,
    lowercase: bool = True,
    collapse_whitespace: bool = True,
    strip_punctuation: bool = False,
    normalize_digits: bool = False,
) -> pa.LargeStringArray:
    """`make_normalizer(...)` applied to every string of an Arrow array, vectorised.

    >>> normalize_array(pa.array([" A\u3000b\\n", "x"])).to_pylist()
    ['a b', 'x']
    """
    texts = pc.cast(texts, pa.large_string())
    if lowercase:
        texts = pc.utf8_lower(texts)
    if strip_punctuation:
        texts = pc.replace_substring_regex(texts, _ARROW_PUNCT, " ")
    if normalize_digits:
        texts = pc.replace_substring_regex(texts, _ARROW_DIGIT, "0")
    if collapse_whitespace:
        texts = _collapse_whitespace(texts)
    return texts


def hash_texts(texts: pa.Array, **switches) -> list[str]:
    """`text_hash(normalize(t))` for every string, with `normalize_array`'s switches."""
    digest = xxhash.xxh3_128_hexdigest
    texts = pc.cast(texts, pa.large_string())
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    hashes = []
    for chunk in _byte_chunks(texts, _CHUNK_BYTES):
        offsets, data = _utf8_buffers(normalize_array(chunk, **switches))
        view = memoryview(data)
        hashes += [
            digest(view[a:b])
            for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)
        ]
    return hashes


def _byte_chunks(texts: pa.LargeStringArray, size: int):
    """Slices of about `size` bytes (at least one string each): the normaliser's byte-sized
    temporaries then stay in cache, which doubles its speed over whole batches."""
    offsets = _utf8_buffers(texts)[0]
    a = 0
    while a < len(texts):
        b = int(np.searchsorted(offsets, offsets[a] + size, "right")) - 1
        b = min(len(texts), max(b, a + 1))
        yield texts.slice(a, b - a)
        a = b


def _utf8_buffers(texts: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets from 0, UTF-8 bytes) of a large_string array, without copying."""
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    offsets = np.frombuffer(texts.buffers()[1], np.int64)[
        texts.offset : texts.offset + len(texts) + 1
    ]
    data = texts.buffers()[2]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


def _collapse_whitespace(texts: pa.LargeStringArray) -> pa.LargeStringArray:
    """Every whitespace run -> one space, none at either end: `" ".join(t.split())`.

    Byte arithmetic on uint8 wraps, so `(b - 9) <= 4` is "9 <= b <= 13" in two cheap ops.
    """
    offsets, data = _utf8_buffers(texts)
    space = ((data - np.uint8(9)) <= 4) | ((data - np.uint8(28)) <= 4)  # \t..\r, \x1c..' '
    # Multi-byte spaces (lead byte 0xC2 or 0xE1-0xE3): every byte counts as space, so the
    # run collapses to its first byte, which becomes ' ' below.
    lead = np.flatnonzero((data == 0xC2) | ((data - np.uint8(0xE1)) <= 2))
    if len(lead):
        padded = np.concatenate([data[lead[0] :], np.zeros(2, np.uint8)])
        at = lead - lead[0]
        code = (
            (padded[at].astype(np.int64) << 16)
            | (padded[at + 1].astype(np.int64) << 8)
            | padded[at + 2]
        )
        two = lead[(data[lead] == 0xC2) & np.isin(code >> 8, _WIDE2)]
        three = lead[(data[lead] != 0xC2) & np.isin(code, _WIDE3)]
        space[two] = space[two + 1] = True
        space[three] = space[three + 1] = space[three + 2] = True
    drop = np.zeros(len(data), bool)
    np.logical_and(space[1:], space[:-1], out=drop[1:])  # all but the first of a run
    starts, ends = offsets[:-1], offsets[1:]
    nonempty = starts < ends
    first = starts[nonempty]
    drop[first] |= space[first]  # leading run
    last = ends[nonempty] - 1
    trailing = space[last]
    for start, j in zip(first[trailing].tolist(), last[trailing].tolist(), strict=True):
        while j > start and space[j - 1]:  # walk to the one byte of the run kept above
            j -= 1
        drop[j] = True
    # the kept byte of each run becomes ' ' (most already are)
    other = np.flatnonzero(space & ~drop & (data != 32))
    if len(other):
        data = data.copy()
        data[other] = 32
    removed = np.flatnonzero(drop)
    if len(removed):
        offsets = offsets - np.searchsorted(removed, offsets)
        keep = np.ones(len(data), bool)
        keep[removed] = False
        data = data[keep]
    return pa.LargeStringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data)
    )
