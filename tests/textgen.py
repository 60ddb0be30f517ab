"""Generated text for dedup tests: random words (letters only, so digit normalisation cannot
merge them) and copies with a few words replaced."""

from __future__ import annotations

import random
import string


def vocabulary(rng: random.Random, n: int = 4000) -> list[str]:
    return [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9)))
        for _ in range(n)
    ]


def edited(rng: random.Random, text: str, edits: int, words: list[str]) -> str:
    """`text` with `edits` randomly chosen words replaced by random words."""
    w = text.split()
    for _ in range(edits):
        w[rng.randrange(len(w))] = rng.choice(words)
    return " ".join(w)
