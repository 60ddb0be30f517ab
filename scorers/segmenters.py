"""Dictionary word segmenters for languages written without spaces (optional packages).

Without one, Thresher makes every Han/kana character a word (scorers.text_units), a fixed
rule. With one named per language (`quality_filters: {word_segmenters: {zh: jieba, ja:
sudachi}}`), a document language ID labelled that language is cut into the segmenter's
words instead, as datatrove's word tokenizers do (spaCy's jieba and Sudachi front ends):
the surface forms, stripped, whitespace-only ones dropped.

    jieba    Chinese, `pip install jieba` (its default dictionary, HMM for unknown words)
    sudachi  Japanese, `pip install sudachipy sudachidict-core` (split mode A, spaCy's)

Both run in Python at ~0.1-0.2 MB of text a second here, against ~3 MB/s for the regex
tokenizer: worth it where the word units matter (Gopher's word counts and n-grams).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import metadata

from thresher.scorers.errors import ConfigError

PACKAGES = {"jieba": ("jieba",), "sudachi": ("sudachipy", "sudachidict-core")}
SUDACHI_MAX_BYTES = 40_000  # Sudachi refuses inputs over ~49 KB; datatrove cuts at 40,000


def versions(names) -> dict[str, str]:
    """{segmenter: its packages' versions}, for the measure fingerprint."""
    return {
        n: ",".join(f"{p}=={metadata.version(p)}" for p in PACKAGES[n]) for n in sorted(set(names))
    }


@cache
def load(name: str) -> Callable[[str], list[str]]:
    """`text -> words` for a segmenter name; a one-line ConfigError when it is missing."""
    try:
        return _LOADERS[name]()
    except ImportError:
        need = " ".join(PACKAGES[name])
        raise ConfigError(
            f"word segmenter {name} needs `pip install {need}`, or drop it from "
            "quality_filters.word_segmenters"
        ) from None


def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()  # the dictionary, once per worker (~1.5 s)
    return lambda text: _stripped(tokenizer.cut(text, cut_all=False, HMM=True))


def _sudachi():
    from sudachipy import dictionary, tokenizer

    tok = dictionary.Dictionary().create(mode=tokenizer.Tokenizer.SplitMode.A)

    def words(text: str) -> list[str]:
        out = []
        for piece in _byte_pieces(text, SUDACHI_MAX_BYTES):
            out += _stripped(m.surface() for m in tok.tokenize(piece))
        return out

    return words


def _stripped(words) -> list[str]:
    return [s for w in words if (s := w.strip())]


def _byte_pieces(text: str, limit: int) -> list[str]:
    """`text` cut at character boundaries into pieces of at most `limit` UTF-8 bytes."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return [text]
    pieces, start = [], 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # not inside a character
            end -= 1
        pieces.append(data[start:end].decode("utf-8", "surrogatepass"))
        start = end
    return pieces


_LOADERS = {"jieba": _jieba, "sudachi": _sudachi}
