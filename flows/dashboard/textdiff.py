"""Differing spans of two texts, for showing a keeper next to a duplicate it replaced.

Word-level difflib: duplicates differ by a few edited words, so words are the unit a
reader scans for. Long texts are compared on their first MAX_WORDS words (difflib's
matcher is quadratic in the worst case) and the page says so.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

MAX_WORDS = 4000
_TOKENS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class Span:
    text: str
    changed: bool


def side_by_side(keeper: str, other: str) -> tuple[list[Span], list[Span], bool]:
    """(keeper spans, other spans, truncated): spans marked `changed` differ between them.
    Whitespace runs are tokens too, so the spans join back into the (truncated) texts."""
    a, a_cut = _tokens(keeper)
    b, b_cut = _tokens(other)
    words_a = [t for t in a if not t.isspace()]
    words_b = [t for t in b if not t.isspace()]
    matcher = difflib.SequenceMatcher(None, words_a, words_b, autojunk=False)
    same_a, same_b = set(), set()
    for block in matcher.get_matching_blocks():
        same_a.update(range(block.a, block.a + block.size))
        same_b.update(range(block.b, block.b + block.size))
    return _spans(a, same_a), _spans(b, same_b), a_cut or b_cut


def _tokens(text: str) -> tuple[list[str], bool]:
    tokens, words = [], 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if not token.isspace():
            words += 1
            if words > MAX_WORDS:
                return tokens, True
        tokens.append(token)
    return tokens, False


def _spans(tokens: list[str], same: set[int]) -> list[Span]:
    """Merge runs of tokens with the same changed-flag (whitespace joins its neighbours)."""
    runs: list[tuple[bool, list[str]]] = []
    word = 0
    for token in tokens:
        if token.isspace():
            changed = runs[-1][0] if runs else False
        else:
            changed = word not in same
            word += 1
        if runs and runs[-1][0] == changed:
            runs[-1][1].append(token)
        else:
            runs.append((changed, [token]))
    return [Span("".join(parts), changed) for changed, parts in runs]
