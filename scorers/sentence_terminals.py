"""Sentence-terminal punctuation of every script (Unicode's Sentence_Terminal property),
as an RE2 character class: FineWeb counts a line as ending a sentence when its last
character is one of these (., ?, !, 。, ।, ؟, ...), not only the ASCII three."""

from __future__ import annotations

import regex  # the stdlib `re` has no Unicode property classes

_ALL = (
    "".join(map(chr, range(0x110000))).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
)
TERMINALS = "".join(sorted(set(regex.findall(r"\p{Sentence_Terminal}", _ALL))))
TERMINAL_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in TERMINALS)
del _ALL
