"""Text normalisation: storage keeps meaning; the vectorised hashing normaliser agrees with
the per-string definition on every kind of character."""

from __future__ import annotations

import itertools
import random
import string

import pyarrow as pa
import pytest

from thresher.scorers.textnorm import (
    for_storage,
    hash_texts,
    make_normalizer,
    normalize_array,
    strip_accents,
    text_hash,
)


def test_storage_normalisation_only_touches_encoding_and_line_endings():
    assert for_storage("e\u0301te\r\n\r\nx\ry") == "\u00e9te\n\nx\ny"
    assert for_storage("  Mixed CASE,   spacing!\t") == "  Mixed CASE,   spacing!\t"


def test_strip_accents():
    assert strip_accents("Crème Brûlée, Ωmega") == "Creme Brulee, Ωmega"


# Every character str.split() treats as whitespace, multi-byte ones included, plus letters
# with special lowercasing, marks, non-ASCII digits and punctuation, and 4-byte UTF-8.
SPACES = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
ALPHABET = (
    string.printable
    + SPACES
    + "\x00\x7f"
    + "éÅßİıΣσςДж中文かナ한"
    + "\u0301\u0308"
    + "٣७²½"
    + "—“”«»。、_¿"
    + "😀𝒜"
)


@pytest.mark.parametrize("switches", list(itertools.product([False, True], repeat=4)))
def test_vectorised_normaliser_matches_the_per_string_definition(switches):
    rng = random.Random(sum(switches))
    texts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 60))) for _ in range(400)]
    texts += ["  a  b\t\n c  ", "A.B,C_1 2", "", " ", "x" + SPACES + "y", "ΟΔΟΣ İ"]
    normalize = make_normalizer(*switches)
    expected = [normalize(t) for t in texts]
    array = pa.array(texts)
    assert normalize_array(array, *switches).to_pylist() == expected, switches
    # a sliced, chunked input (non-zero offsets) gives the same answer
    chunked = pa.chunked_array([array.slice(0, 7), array.slice(7)])
    assert normalize_array(chunked.combine_chunks().slice(3), *switches).to_pylist() == expected[3:]
    names = ["lowercase", "collapse_whitespace", "strip_punctuation", "normalize_digits"]
    assert hash_texts(array, **dict(zip(names, switches, strict=True))) == [
        text_hash(e) for e in expected
    ]


def test_normalisation_switches_do_what_they_say():
    norm = lambda t, **kw: normalize_array(pa.array([t]), **kw).to_pylist()[0]
    assert norm(" Hello,\u00a0 World!\n") == "hello, world!"
    assert norm("Hello,  World", lowercase=False, collapse_whitespace=False) == "Hello,  World"
    assert norm("end.Start", strip_punctuation=True) == "end start"
    assert norm("Call 555-0199", normalize_digits=True, strip_punctuation=True) == "call 000 0000"
    assert norm("ΟΔΟΣ") == "οδοσ"  # simple case mapping: no final-sigma rule
