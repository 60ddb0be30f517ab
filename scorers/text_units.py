"""Words, lines and repeats of whole batches of documents, as Arrow/numpy array operations.

Every function takes a batch (an Arrow string array) and returns flat arrays plus the index
of the document each element belongs to (`parent`), so per-document measures are one
`np.bincount` away and no Python loop runs per character, word or line.

Words (`tokens`): runs of letters, digits, marks and `_`; every other visible character is a
token of its own (`...` stays one token, as in spaCy's English rules); a character of a
script written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar) is a word of its own,
so Chinese, Japanese and Thai get character "words" instead of one giant one. This is a
fixed rule, not a per-language dictionary segmenter: close enough for counts and ratios
(see bench/results/filters.md for how close to spaCy's tokenizer the rules land).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NOSPACE_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_P = r"[^\p{L}\p{N}\p{M}\s]"  # punctuation and symbols (RE2 syntax, as pyarrow runs it)
_LEAD = rf"(^|\s)({_P}+)"  # a chunk's leading punctuation run ...
_TRAIL = rf"({_P}+)(\s|$)"  # ... and its trailing one, cut off the chunk's core
_PUNCT_ONLY = r"^[^\p{L}\p{N}\p{M}]+$"
_PUNCT_TOKEN = r"(\.\.\.|-+|.)"  # '...' and dash runs stay whole, as spaCy keeps them
# split like spaCy's infix rule (well-known -> well - known), but not inside a URL or an
# e-mail address, which spaCy matches first and keeps whole: such a chunk matches the first
# alternative and gets a marker at its end; a split hyphen becomes the marker (see _chunked)
_LETTER_HYPHEN = r"(\S*(?:@|://)\S*)|(\p{L})-(\p{L})"
_MARK = "\ufdd0"  # a Unicode noncharacter (reserved for internal use): removed again at once
# str.splitlines' line boundaries
_LINE_BREAKS = r"\r\n|[\n\r\x{0b}\x{0c}\x{1c}\x{1d}\x{1e}\x{85}\x{2028}\x{2029}]"
_U64 = np.uint64


def _flat(lists: pa.Array) -> tuple[pa.Array, np.ndarray]:
    flat = pc.list_flatten(lists)
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    return flat, parent


def per_doc(parent: np.ndarray, n_docs: int, weights=None) -> np.ndarray:
    """Sum of `weights` (default: 1) per document."""
    return np.bincount(parent, weights=weights, minlength=n_docs).astype(np.float64)


def lengths(strings: pa.Array) -> np.ndarray:
    return pc.utf8_length(strings).to_numpy(zero_copy_only=False).astype(np.int64)


def flags(values: pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False).astype(bool)


def _chunked(texts: pa.Array) -> pa.Array:
    """The texts with a space wherever `tokens` cuts inside a whitespace-separated chunk,
    except between the characters of a punctuation-only chunk."""
    texts = texts.cast(pa.large_string())
    texts = pc.replace_substring_regex(texts, _LEAD, r"\1\2 ")
    texts = pc.replace_substring_regex(texts, _TRAIL, r" \1\2")
    for _ in range(2):  # non-overlapping matches: a second pass splits a-b-c fully
        texts = pc.replace_substring_regex(texts, _LETTER_HYPHEN, rf"\1\2{_MARK}\3")
    texts = pc.replace_substring_regex(texts, rf"{_MARK}(\p{{L}})", r" - \1")
    texts = pc.replace_substring(texts, _MARK, "")
    return pc.replace_substring_regex(texts, f"([{NOSPACE_SCRIPTS}])", r" \1 ")


def tokens(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(every token of every text, the index of its text): whitespace-separated chunks,
    each cut into its leading punctuation (one token per character), its core (one token,
    split at letter-hyphen-letter and around characters of scripts without spaces) and its
    trailing punctuation (one token per character), close to spaCy's English tokenizer.
    Regexes run over whole texts where they can (per-element calls cost ~1 us each)."""
    chunks, parent = _flat(pc.utf8_split_whitespace(_chunked(texts)))
    punct = pc.match_substring_regex(chunks, _PUNCT_ONLY)
    # a chunk of punctuation only is a token per character: split just those chunks
    split_up = pc.replace_substring_regex(chunks.filter(punct), _PUNCT_TOKEN, r"\1 ")
    chunks = pc.replace_with_mask(chunks, punct, split_up)
    flat, chunk_parent = _flat(pc.utf8_split_whitespace(chunks))
    keep = pc.greater(pc.utf8_length(flat), 0)
    return flat.filter(keep), parent[chunk_parent][flags(keep)]


def tokens_with(texts: pa.Array, words_of: dict[int, list[str]]) -> tuple[pa.Array, np.ndarray]:
    """`tokens(texts)`, except that the texts at the indices in `words_of` have the words
    given there (a dictionary segmenter's), in the same (token, parent) layout."""
    if not words_of:
        return tokens(texts)
    cut = np.array(sorted(words_of), dtype=np.int64)
    given = pa.array([w for i in cut.tolist() for w in words_of[i]], pa.large_string())
    local = np.repeat(np.arange(len(cut)), [len(words_of[i]) for i in cut.tolist()])
    return tokens_from(texts, [(cut, given, local)])


def tokens_from(
    texts: pa.Array, given: list[tuple[np.ndarray, pa.Array, np.ndarray]]
) -> tuple[pa.Array, np.ndarray]:
    """`tokens(texts)`, except for the texts some other tokenizer cut: each element of
    `given` is (their indices in `texts`, their tokens, each token's position in those
    indices), in the same (token, parent) layout; the other texts get `tokens`."""
    given = [g for g in given if len(g[0])]
    if not given:
        return tokens(texts)
    cut = np.concatenate([g[0] for g in given])
    rest = np.setdiff1d(np.arange(len(texts)), cut)
    toks, parent = tokens(texts.take(pa.array(rest))) if len(rest) else tokens(texts.slice(0, 0))
    all_toks = pa.concat_arrays(
        [toks.cast(pa.large_string())] + [g[1].cast(pa.large_string()) for g in given]
    )
    all_parent = np.concatenate([rest[parent]] + [g[0][g[2]] for g in given])
    order = np.argsort(all_parent, kind="stable")  # each text's tokens stay in text order
    return all_toks.take(pa.array(order)), all_parent[order]


# what utf8_split_whitespace splits at (checked against it for every code point in the tests)
_WS = r"[\t\n\x{0b}\f\r\x{1c}-\x{1f}\x{85}\p{Zs}\x{2028}\x{2029}]"
_NOT_WS = _WS.replace("[", "[^", 1)
# one match per token of `_chunked` text: a chunk with a letter, digit or mark is one token
# (the match runs to the chunk's end); a punctuation-only chunk gives one per `_PUNCT_TOKEN`
_TOKEN = rf"{_NOT_WS}*[\p{{L}}\p{{N}}\p{{M}}]{_NOT_WS}*|\.\.\.|-+|{_NOT_WS}"


def token_counts(texts: pa.Array) -> np.ndarray:
    """Per text, how many `tokens` it has, without building them (one regex count instead
    of two splits and a per-chunk pass: ~2x faster where only the count is needed)."""
    return (
        pc.count_substring_regex(_chunked(texts), _TOKEN)
        .to_numpy(zero_copy_only=False)
        .astype(np.float64)
    )


def split_lines(texts: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Lines as str.splitlines cuts them: (lines, parent, lines per text). The empty piece
    after a final line break is in `lines` but not counted (splitlines drops it)."""
    flat, parent = _flat(pc.split_pattern_regex(texts, _LINE_BREAKS))
    trailing = flags(pc.match_substring_regex(texts, rf"(?:{_LINE_BREAKS})$"))
    count = per_doc(parent, len(texts)) - trailing
    return flat, parent, count


def split(texts: pa.Array, pattern: str) -> tuple[pa.Array, np.ndarray]:
    """Pieces of every text cut at `pattern` (re.split semantics, empty pieces kept)."""
    return _flat(pc.split_pattern_regex(texts, pattern))


def repeats(elements: pa.Array, parent: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """Per document: how many elements equal an earlier element of the same document, and
    their characters (the first occurrence is not a repeat)."""
    if len(elements) == 0:
        return np.zeros(n_docs), np.zeros(n_docs)
    ids = pc.dictionary_encode(elements).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    key = parent.astype(np.int64) * (int(ids.max()) + 1) + ids
    _, first = np.unique(key, return_index=True)
    repeated = np.ones(len(key), dtype=bool)
    repeated[first] = False
    chars = lengths(elements) * repeated
    return per_doc(parent, n_docs, repeated), per_doc(parent, n_docs, chars)


def _mix(ids: np.ndarray) -> np.ndarray:
    """64-bit finalizer (MurmurHash3's), so window sums of token hashes rarely collide."""
    h = ids.astype(_U64) + _U64(0x9E3779B97F4A7C15)
    h ^= h >> _U64(33)
    h *= _U64(0xFF51AFD7ED558CCD)
    h ^= h >> _U64(33)
    h *= _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


class NGrams:
    """Word n-grams of a batch: hashed windows of n tokens that stay inside one document."""

    def __init__(self, toks: pa.Array, parent: np.ndarray, n_docs: int):
        self.parent, self.n_docs = parent, n_docs
        self.size = len(toks)
        ids = pc.dictionary_encode(toks).indices.to_numpy(zero_copy_only=False) if self.size else []
        self.hashes = _mix(np.asarray(ids, dtype=np.int64))
        self.cum_len = np.concatenate([[0], np.cumsum(lengths(toks))]) if self.size else np.zeros(1)

    def _windows(self, n: int):
        """(start positions, window hashes, characters of the words joined without spaces)."""
        starts = np.arange(max(self.size - n + 1, 0))
        starts = starts[self.parent[starts] == self.parent[starts + n - 1]]
        with np.errstate(over="ignore"):
            h = np.zeros(len(starts), dtype=_U64)
            for j in range(n):
                h = h * _U64(0x100000001B3) + self.hashes[starts + j]
        return starts, h, self.cum_len[starts + n] - self.cum_len[starts]

    def _groups(self, n: int):
        """Windows grouped by (document, hash): start, group of each window (in start order),
        and per group its count, first start and document."""
        starts, h, chars = self._windows(n)
        doc = self.parent[starts]
        order = np.lexsort((starts, h, doc))
        d, k = doc[order], h[order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (d[1:] != d[:-1]) | (k[1:] != k[:-1])
        group_sorted = np.cumsum(new) - 1
        group = np.empty(len(order), dtype=np.int64)
        group[order] = group_sorted
        counts = np.bincount(group_sorted) if len(order) else np.zeros(0, dtype=np.int64)
        return starts, chars, group, counts, starts[order][new], d[new]

    def top_chars(self, n: int) -> np.ndarray:
        """Per document: characters of its most frequent n-gram (words joined by one space)
        times its count; ties go to the n-gram seen first."""
        starts, chars, _group, counts, first, g_doc = self._groups(n)
        out = np.zeros(self.n_docs)
        if not len(counts):
            return out
        best = np.lexsort((first, -counts, g_doc))
        is_top = np.ones(len(best), dtype=bool)
        is_top[1:] = g_doc[best][1:] != g_doc[best][:-1]
        top = best[is_top]
        first_index = np.searchsorted(starts, first[top])
        out[g_doc[top]] = counts[top] * (chars[first_index] + n - 1)
        return out

    def repeated_chars(self, n: int) -> np.ndarray:
        """Per document: characters (words joined without spaces) of n-grams that repeat an
        earlier one, scanning left to right and jumping past each repeat (so overlapping
        repeats are not counted twice). Only windows whose n-gram occurs more than once in
        the document can change the outcome, so only those are walked."""
        starts, chars, group, counts, _, _ = self._groups(n)
        out = np.zeros(self.n_docs)
        if not len(counts):
            return out
        candidate = counts[group] > 1
        seen: set = set()
        doc_now, skip_until = -1, -1
        cand = starts[candidate]
        for start, doc, g, c in zip(
            cand.tolist(),
            self.parent[cand].tolist(),
            group[candidate].tolist(),
            chars[candidate].tolist(),
            strict=True,
        ):
            if doc != doc_now:
                seen, doc_now, skip_until = set(), doc, -1
            if start < skip_until:
                continue
            if g in seen:
                out[doc] += c
                skip_until = start + n
            else:
                seen.add(g)
        return out
