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


class NGrams:
    """Word n-grams of a batch: windows of n tokens that stay inside one document, each with
    an exact id (no hashing): token ids come from Arrow's dictionary encoding, and the id of
    an n-gram is the dense rank of (its (n-1)-gram's id, its last token's id), with the
    document in the 1-gram's id, so equal ids mean the same document and the same tokens.

    Only repeated n-grams (more than one window in their document) are kept: a window
    whose (n-1)-gram occurs once in its document occurs once itself, so each n sorts just
    the windows that extend a repeated (n-1)-gram (one full sort, of the tokens, in all).
    Call with increasing n (a smaller n starts over)."""

    def __init__(self, toks: pa.Array, parent: np.ndarray, n_docs: int):
        self.parent, self.n_docs = np.asarray(parent, dtype=np.int64), n_docs
        self.size = len(toks)
        ids = pc.dictionary_encode(toks).indices.to_numpy(zero_copy_only=False) if self.size else []
        self.ids = np.asarray(ids, dtype=np.int64)
        self.vocab = int(self.ids.max()) + 1 if self.size else 1
        self.cum_len = np.concatenate([[0], np.cumsum(lengths(toks))]) if self.size else np.zeros(1)
        self.doc_tokens = np.bincount(self.parent, minlength=n_docs)
        self.doc_first = np.cumsum(self.doc_tokens) - self.doc_tokens  # tokens in doc order
        self._level = 0
        self._cache: dict[int, tuple] = {}

    def _keep_repeated(self, k: int, starts: np.ndarray, key: np.ndarray):
        """Group the windows at `starts` (increasing) by `key` and keep those of groups with
        more than one window: (their starts, dense group ids in key order, and per group its
        count, first start and document)."""
        order = np.argsort(key)
        sk = key[order]
        new = np.ones(len(sk), dtype=bool)
        new[1:] = sk[1:] != sk[:-1]
        bounds = np.flatnonzero(new)
        counts = np.diff(np.append(bounds, len(sk)))
        group = np.empty(len(sk), dtype=np.int64)
        group[order] = np.cumsum(new) - 1
        kept = counts > 1
        live = kept[group]
        first = np.minimum.reduceat(starts[order], bounds)[kept] if len(bounds) else bounds
        renumber = np.cumsum(kept) - 1
        self._cache[k] = (
            starts[live],
            renumber[group[live]],
            counts[kept],
            first,
            self.parent[first],
        )
        self._level = k

    def _groups(self, n: int):
        """Repeated n-grams: (start of each of their windows, in start order; its group) and
        per group (in document order) its count, first start and document."""
        if n in self._cache:
            return self._cache[n]
        if self._level == 0 or n < self._level:
            self._cache = {}
            self._keep_repeated(1, np.arange(self.size), self.parent * self.vocab + self.ids)
        while self._level < n:
            k = self._level + 1
            starts, group = self._cache[self._level][:2]
            last = starts + k - 1
            inside = last < self.size
            starts, group, last = starts[inside], group[inside], last[inside]
            inside = self.parent[last] == self.parent[starts]
            starts, last = starts[inside], last[inside]
            # exact: group ids < size and token ids < vocab <= size, so this fits in int64
            self._keep_repeated(k, starts, group[inside] * self.vocab + self.ids[last])
        return self._cache[n]

    def top_chars(self, n: int) -> np.ndarray:
        """Per document: characters of its most frequent n-gram (words joined by one space)
        times its count; ties go to the n-gram seen first (so with no repeated n-gram: the
        first one, once)."""
        _starts, _group, counts, first, g_doc = self._groups(n)
        out = np.zeros(self.n_docs)
        has = self.doc_tokens >= n
        f = self.doc_first[has]
        out[has] = self.cum_len[f + n] - self.cum_len[f] + n - 1
        if not len(counts):
            return out
        # groups are in document order: one max per document of (count, earliest first)
        big = self.size + 1
        score = counts * big + (self.size - first)
        doc_start = np.flatnonzero(np.concatenate([[True], g_doc[1:] != g_doc[:-1]]))
        best = np.maximum.reduceat(score, doc_start)
        count, top_first = best // big, self.size - best % big
        chars = self.cum_len[top_first + n] - self.cum_len[top_first]
        out[g_doc[doc_start]] = count * (chars + n - 1)
        return out

    def repeated_chars(self, n: int) -> np.ndarray:
        """Per document: characters (words joined without spaces) of n-grams that repeat an
        earlier one, scanning left to right and jumping past each repeat (so overlapping
        repeats are not counted twice). Only windows whose n-gram occurs more than once in
        the document (candidates) can change the outcome. Where no candidate starts within
        n tokens after a repeat, the scan never skips a candidate, so the repeats are exactly
        the candidates that are not their n-gram's first occurrence (vectorised); only the
        documents where one does are scanned in Python."""
        cand, g, _counts, first, _ = self._groups(n)
        out = np.zeros(self.n_docs)
        if not len(cand):
            return out
        c = self.cum_len[cand + n] - self.cum_len[cand]
        doc = self.parent[cand]
        repeat = cand != first[g]
        close = np.zeros(len(cand), dtype=bool)
        close[:-1] = repeat[:-1] & (doc[1:] == doc[:-1]) & (cand[1:] < cand[:-1] + n)
        scan = np.zeros(self.n_docs, dtype=bool)
        scan[doc[close]] = True
        easy = repeat & ~scan[doc]
        out += np.bincount(doc[easy], weights=c[easy], minlength=self.n_docs)
        walk = scan[doc]
        seen: set = set()
        doc_now, skip_until = -1, -1
        for start, d, gi, ci in zip(
            cand[walk].tolist(), doc[walk].tolist(), g[walk].tolist(), c[walk].tolist(), strict=True
        ):
            if d != doc_now:
                seen, doc_now, skip_until = set(), d, -1
            if start < skip_until:
                continue
            if gi in seen:
                out[d] += ci
                skip_until = start + n
            else:
                seen.add(gi)
        return out
