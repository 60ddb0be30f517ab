"""Text normalisation: storage keeps meaning; the fast ASCII hash path agrees with the slow one."""

from __future__ import annotations

import itertools
import random
import string

import pytest

from scorers.textnorm import for_storage, make_hasher, make_normalizer, strip_accents, text_hash


def test_storage_normalisation_only_touches_encoding_and_line_endings():
    assert for_storage("e\u0301te\r\n\r\nx\ry") == "\u00e9te\n\nx\ny"
    assert for_storage("  Mixed CASE,   spacing!\t") == "  Mixed CASE,   spacing!\t"


def test_strip_accents():
    assert strip_accents("Crème Brûlée, Ωmega") == "Creme Brulee, Ωmega"


@pytest.mark.parametrize("switches", list(itertools.product([False, True], repeat=4)))
def test_fast_hasher_equals_normalise_then_hash(switches):
    rng = random.Random(sum(switches))
    alphabet = string.printable + "\x1c\x1f\x00\x7f" + "éÅ—  中"
    hasher = make_hasher(*switches)
    normalize = make_normalizer(*switches)
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        ascii_text = text.encode("ascii", "ignore").decode()
        for t in (text, ascii_text, "  a  b\t\n c  ", "A.B,C_1 2"):
            assert hasher(t) == text_hash(normalize(t)), (switches, t)
