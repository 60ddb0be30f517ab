"""The measures behind the named heuristic rule sets (Gopher quality and repetition, C4,
FineWeb), for a batch of documents at once.

Each function returns {column: float64 array}, one value per document (NaN where a measure
does not apply); the rules that compare them with thresholds live in `quality_rules`.
What each measure counts follows datatrove's filters (the reference implementations of
the published rules), re-derived here for whole batches: see README "Heuristic quality
filters" for the definitions and bench/results/filters.md for the agreement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.scorers import text_units as tu
from thresher.scorers.sentence_terminals import TERMINAL_CLASS

# Languages written without spaces: their "words" are characters, so word-length and
# stop-word rules (calibrated on English) do not apply to them.
NOSPACE_LANGUAGES = tu.NOSPACE_LANGUAGES
GOPHER_STOP_WORDS = {"en": ["the", "be", "to", "of", "and", "that", "have", "with"]}
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
C4_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


def base_language(code: str | None) -> str | None:
    """'en' -> 'en', 'cmn_Hani' (GlotLID) -> 'cmn', None -> None."""
    return code.split("_")[0].split("-")[0] if code else None


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return num / np.maximum(den, 1)


def _count(texts: pa.Array, pattern: str, regex: bool = False) -> np.ndarray:
    kernel = pc.count_substring_regex if regex else pc.count_substring
    return kernel(texts, pattern).to_numpy(zero_copy_only=False).astype(np.float64)


def _count_rare(texts: pa.Array, literal: str) -> np.ndarray:
    """Occurrences of a literal that is rare in text: RE2 skips to each by memchr, ~10x
    faster than Arrow's literal count (which wins for a frequent one, such as '\\n')."""
    return _count(texts, re.escape(literal), regex=True)


def gopher_quality(
    texts: pa.Array,
    languages: Sequence[str | None] | None,
    stop_words: dict[str, list[str]],
    default_language: str = "en",
    tokens: tuple[pa.Array, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Gopher's quality measures. Without a language column every document is taken to be
    in `default_language` (as datatrove does); stop words are counted case-sensitively, each
    distinct stop word once."""
    n = len(texts)
    langs = (
        [base_language(x) for x in languages] if languages is not None else [default_language] * n
    )
    toks, parent = tokens or tu.tokens(texts, langs)
    n_tokens = tu.per_doc(parent, n)
    symbol = tu.flags(pc.match_substring_regex(toks, r"^(?:\.\.\.|[\p{P}\p{S}]+)$"))
    words = tu.per_doc(parent, n, ~symbol)
    word_chars = tu.per_doc(parent, n, tu.lengths(toks) * ~symbol)
    mean_len = np.where(words > 0, word_chars / np.maximum(words, 1), np.nan)
    nospace = np.array([lang in NOSPACE_LANGUAGES for lang in langs], dtype=bool)
    mean_len[nospace] = np.nan
    alpha = tu.flags(pc.match_substring_regex(toks, r"\p{L}"))
    lines, line_parent, n_lines = tu.split_lines(texts)
    bullets = tu.per_doc(line_parent, n, tu.flags(pc.match_substring_regex(lines, r"^\s*[•\-]")))
    ellipsis_end = tu.flags(pc.match_substring_regex(lines, r"(?:\.\.\.|…)\s*$"))
    ellipsis = _count_rare(texts, "...") + _count_rare(texts, "…")
    return {
        "gopher_quality_words": words,
        "gopher_quality_mean_word_length": mean_len,
        "gopher_quality_hash_ratio": _ratio(_count_rare(texts, "#"), n_tokens),
        "gopher_quality_ellipsis_ratio": _ratio(ellipsis, n_tokens),
        "gopher_quality_bullet_lines_ratio": _ratio(bullets, n_lines),
        "gopher_quality_ellipsis_lines_ratio": _ratio(
            tu.per_doc(line_parent, n, ellipsis_end), n_lines
        ),
        "gopher_quality_alpha_words_ratio": _ratio(tu.per_doc(parent, n, alpha), n_tokens),
        "gopher_quality_stop_words": _stop_words(toks, parent, langs, stop_words),
    }


def _stop_words(toks, parent, langs, lists) -> np.ndarray:
    """Distinct stop words of the document's language list present; NaN without a list."""
    n = len(langs)
    out = np.full(n, np.nan)
    for lang in sorted({x for x in langs if x in lists}):
        docs = np.array([x == lang for x in langs])
        out[docs] = 0
        vocab = pa.array(sorted(set(lists[lang])), pa.string())
        which = pc.index_in(toks, value_set=vocab).to_numpy(zero_copy_only=False)
        hit = ~np.isnan(which.astype(np.float64)) & docs[parent]
        if hit.any():
            pairs = np.unique(
                parent[hit].astype(np.int64) * len(vocab) + which[hit].astype(np.int64)
            )
            out += np.bincount(pairs // len(vocab), minlength=n) * docs
    return out


def gopher_repetition(
    texts: pa.Array,
    tokens: tuple[pa.Array, np.ndarray] | None = None,
    languages: Sequence[str | None] | None = None,
) -> dict[str, np.ndarray]:
    """Gopher's repetition measures: repeated paragraphs and lines (share of elements and of
    characters), the top 2-4-gram's characters and the repeated 5-10-gram characters, each
    over the document's characters."""
    n = len(texts)
    chars = tu.lengths(texts).astype(np.float64)
    paras, para_parent = tu.split(pc.utf8_trim_whitespace(texts), r"\n{2,}")
    lines, line_parent = tu.split(texts, r"\n+")
    para_dups, para_chars = tu.repeats(paras, para_parent, n)
    line_dups, line_chars = tu.repeats(lines, line_parent, n)
    out = {
        "gopher_repetition_dup_para_frac": _ratio(para_dups, tu.per_doc(para_parent, n)),
        "gopher_repetition_dup_para_char_frac": _ratio(para_chars, chars),
        "gopher_repetition_dup_line_frac": _ratio(line_dups, tu.per_doc(line_parent, n)),
        "gopher_repetition_dup_line_char_frac": _ratio(line_chars, chars),
    }
    grams = tu.NGrams(*(tokens or tu.tokens(texts, languages)), n)
    for k in TOP_NGRAMS:
        out[f"gopher_repetition_top_{k}_gram_char_frac"] = _ratio(grams.top_chars(k), chars)
    for k in DUP_NGRAMS:
        out[f"gopher_repetition_dup_{k}_gram_char_frac"] = _ratio(grams.repeated_chars(k), chars)
    return out


def c4(
    texts: pa.Array,
    min_words_per_line: int = 3,
    max_word_length: int = 1000,
    remove_citations: bool = True,
    filter_no_terminal_punct: bool = True,
    filter_javascript: bool = True,
    filter_policy: bool = True,
) -> dict[str, np.ndarray]:
    """C4's measures over the lines C4 would keep. C4 itself deletes lines (no terminal
    punctuation, under 3 words, 'javascript', cookie/terms lines); Thresher never rewrites
    text, so it records what is left (`c4_sentences`, `c4_kept_lines_ratio`) and whether a
    line it looked at has 'lorem ipsum' or a curly bracket."""
    n = len(texts)
    lines, parent, n_lines = tu.split_lines(texts)
    lines = pc.utf8_trim_whitespace(lines)
    ok = np.ones(len(lines), dtype=bool)
    if max_word_length >= 0:
        # RE2 repeats at most 1000 times: a word longer than L is L+1 non-spaces
        too_long = rf"\S{{{min(max_word_length, 1000)}}}\S" + r"\S" * max(max_word_length - 1000, 0)
        ok &= ~tu.flags(pc.match_substring_regex(lines, too_long))
    n_words = tu.flags(
        pc.greater_equal(pc.count_substring_regex(lines, r"\S+"), min_words_per_line)
    )
    if remove_citations:
        lines = pc.replace_substring_regex(lines, r"\[\d*\]|\[edit\]|\[citation needed\]", "")
    if filter_no_terminal_punct:
        ends = tu.flags(pc.match_substring_regex(lines, r"[.?!\"']$"))
        ok &= ends & ~tu.flags(pc.ends_with(lines, "..."))
    ok &= n_words
    lower = pc.utf8_lower(lines)
    lorem = ok & tu.flags(pc.match_substring(lower, "lorem ipsum"))
    if filter_javascript:
        ok &= ~tu.flags(pc.match_substring(lower, "javascript"))
    curly = ok & tu.flags(pc.match_substring(lines, "{"))
    if filter_policy:
        policy = "|".join(C4_POLICY)
        ok &= ~tu.flags(pc.match_substring_regex(lower, policy))
    # sentences: a run of . ! ? followed by a space or the end (at least one per kept line)
    sentences = np.maximum(
        pc.count_substring_regex(lines, r"[.!?]+(?:\s|$)").to_numpy(zero_copy_only=False), 1
    )
    return {
        "c4_lorem_ipsum": tu.per_doc(parent, n, lorem),
        "c4_curly_bracket": tu.per_doc(parent, n, curly),
        "c4_sentences": tu.per_doc(parent, n, sentences * ok),
        "c4_kept_lines_ratio": _ratio(tu.per_doc(parent, n, ok), n_lines),
    }


def fineweb(
    texts: pa.Array,
    short_line_length: int = 30,
    tokens: tuple[pa.Array, np.ndarray] | None = None,
    word_counts: np.ndarray | None = None,
    languages: Sequence[str | None] | None = None,
) -> dict[str, np.ndarray]:
    """FineWeb's measures over the non-blank lines (cut at '\\n' only): share ending in
    sentence-terminal punctuation, share of short lines, repeated-line characters over the
    characters other than '\\n', and line breaks per word."""
    n = len(texts)
    lines, parent = tu.split_at(texts, "\n")
    breaks = np.maximum(tu.per_doc(parent, n) - 1, 0)  # pieces: the line breaks + 1
    visible = tu.flags(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(lines)), 0))
    lines, parent = lines.filter(pa.array(visible)), parent[visible]
    n_lines = tu.per_doc(parent, n)
    terminal = tu.flags(pc.match_substring_regex(lines, f"[{TERMINAL_CLASS}]$"))
    short = tu.lengths(lines) <= short_line_length
    _, dup_chars = tu.repeats(lines, parent, n)
    if word_counts is not None:
        n_tokens = word_counts
    elif tokens is not None:
        n_tokens = tu.per_doc(tokens[1], n)
    else:
        n_tokens = tu.token_counts(texts, languages)
    return {
        "fineweb_line_punct_ratio": _ratio(tu.per_doc(parent, n, terminal), n_lines),
        "fineweb_short_line_ratio": _ratio(tu.per_doc(parent, n, short), n_lines),
        "fineweb_char_dup_ratio": _ratio(dup_chars, tu.lengths(texts) - breaks),
        "fineweb_list_ratio": _ratio(breaks, n_tokens),
    }
