"""Words, lines and repeats of whole batches of documents, as Arrow/numpy array operations.

Every function takes a batch (an Arrow string array) and returns flat arrays plus the index
of the document each element belongs to (`parent`), so per-document measures are one
`np.bincount` away and no Python loop runs per character, word or line.

Words (`tokens`): spaCy's tokenizer rules (the words datatrove's filters count), done as
a few regex rewrites over whole batches: whitespace-separated chunks, each cut into the
characters spaCy splits off as prefixes and suffixes, and a core cut at spaCy's infixes;
English contractions and French elisions split as spaCy does; per language where spaCy's
rules differ (hyphens, digits, 's). A character of a script written without spaces (Han,
kana, Thai, Lao, Khmer, Myanmar) is a word of its own in documents of those languages, so
Chinese, Japanese and Thai get character "words" instead of one giant one; in any other
language a run of them stays whole, as in spaCy. Not copied: spaCy's exception lists
(`aujourd'hui`, `Mr.` outside English, emoticons, `x.`), unit suffixes (`136mm`). How close
this lands to spaCy on real documents: bench/results/filters.md (bench/token_diff.py counts
the differences by kind).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NOSPACE_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
# Languages written without spaces: their documents get one word per character of those
# scripts (kept in step with quality_measures.NOSPACE_LANGUAGES). Documents of any other
# language, and documents without a language (taken as English), keep a run of them whole,
# as spaCy's tokenizers of those languages (datatrove's words) do.
NOSPACE_LANGUAGES = frozenset(
    {"zh", "ja", "th", "lo", "km", "my", "cmn", "yue", "wuu", "jpn", "tha", "lao", "khm", "mya"}
)
_WORDISH = r"\p{L}\p{N}\p{M}\s"
# spaCy cuts off a chunk's leading and trailing punctuation one character at a time, but
# only characters in its prefix/suffix lists: these stay on the word (`-1`, `--all`,
# `@param`, `.NET`, `\tab`, `~/x`, `+0200`, a URL's final `/`), and a punctuation-only chunk
# made of them stays one token (`//`, `||`, `-----~--`), as in spaCy (`+` is a prefix there
# only before a non-digit: `+0200` stays whole, `+++` is three tokens, `+a` stays whole)
_KEEP_PRE = r"\-./\\|@~^+"
_KEEP_SUF = _KEEP_PRE + r"=%$"  # not suffixes after a letter either (`a=`, `a%`)
_PRE = rf"[^{_WORDISH}{_KEEP_PRE}]"
_SUF = rf"[^{_WORDISH}{_KEEP_SUF}]"
_ELLIPSIS = r"(\.\.+|…)"  # a prefix, suffix and infix of its own in every language
_LEAD = rf"(^|\s)({_PRE}+)"  # a chunk's leading punctuation run ...
_TRAIL = rf"({_SUF}+)(\s|$)"  # ... and its trailing one, cut off the chunk's core
# a final '.' is a suffix after a lowercase letter, digit, symbol, punctuation other than '.'
# or two capitals (`end.`, `AB.`), not after one capital (`C.`, `U.S.`: initials stay whole).
# Two passes, the first with one negated class (every other general category, '.' and
# whitespace): RE2 runs them in ~80% of the time of the alternation of those classes.
# (The negated class also takes code points unassigned in RE2's Unicode tables.)
_FINAL_DOT = rf"(\.{_SUF}*(?:\s|$))"
_DOTS = (
    rf"([^\p{{Lu}}\p{{Lt}}\p{{Lm}}\p{{Lo}}\p{{M}}\p{{Z}}\p{{C}}\s.]){_FINAL_DOT}",
    rf"(\p{{Lu}}\p{{Lu}}){_FINAL_DOT}",
)
_PUNCT_ONLY = rf"^(?:{_PRE}|\+)+$"  # such a chunk is a token per character (`!!!`, `>>`, `++`)
_PUNCT_TOKEN = r"(.)"
# infixes spaCy splits at inside a chunk, except in a URL or an e-mail address, which it
# matches first and keeps whole: each infix pattern is (left character)(infix + right
# character); all of a language's in one regex with the URL first (copied as it is)
_URL = r"(\S*(?:@|://)\S*)"
_INFIX_CASE = r"(\p{Ll})(\.\p{Lu})"  # end.Next, oCell.Formula (every language)
_INFIX_SYMBOL = r"([\p{L}\p{N}])([:<>=/,]\p{L})"  # I/O, a=b, c:func, CA,CO (every language)
_INFIX_HYPHEN = {  # well-known: spaCy's hyphen infix, per language (de, es: kept whole)
    "en": r"([\p{L}\p{N}])([-–—~]\p{L})",  # en also after a digit: 32-bit
    "letters": r"(\p{L})([-–—~]\p{L})",
}
_INFIX_DIGITS = r"(\p{N})([-+*^]\p{N})"  # 1991-2020, 3*4 (not es)
# English contractions (spaCy's exceptions and its 's suffix): don't -> do n't, it's -> it 's
_CONTRACTION = {
    "en": r"(\p{L})(n['’]t|N['’]T|['’](?:[sSmMdD]|re|RE|ve|VE|ll|LL))(\s|$)",
    "s": r"(\p{L})(['’][sS])(\s|$)",  # the 's suffix of spaCy's base rules (ru, it, pt, xx...)
}
_ELISION = r"(\p{L}['’])(\p{L})"  # French/Italian elisions: l'homme -> l' homme
# which of the rules above a document's language gets (spaCy's tokenizers differ)
_NO_HYPHEN = frozenset({"de", "es", "pt", "nl"})
_NO_DIGIT_INFIX = frozenset({"es", "pt", "nl"})
_NO_S_SUFFIX = frozenset({"de", "es", "fr", "nl"})
_ELISION_LANGUAGES = frozenset({"fr", "it", "ca"})
_NO_PERCENT = frozenset({"es", "nl"})  # 100% stays whole; elsewhere 100 %
_MARK = "\ufdd0"  # a Unicode noncharacter (reserved for internal use): removed again at once
# the whitespace Arrow's utf8_split_whitespace (str.isspace's class) cuts at besides ASCII's
# " \t\n\v\f\r": rare in real text, so `split_whitespace` turns it into spaces and cuts at
# ASCII whitespace only, which is about twice as fast
_RARE_SPACE = (
    r"[\x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
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


def split_whitespace(texts: pa.Array) -> pa.Array:
    """`pc.utf8_split_whitespace(texts)` in about half the time: the same non-empty pieces
    (the empty ones, which every caller drops, can differ: Arrow's UTF-8 split sometimes
    adds one more after trailing whitespace)."""
    rare = flags(pc.match_substring_regex(texts, _RARE_SPACE))
    return pc.ascii_split_whitespace(_sub(texts, _RARE_SPACE, " ", rare))


def _sub(texts: pa.Array, pattern: str, repl: str, mask: np.ndarray | None = None) -> pa.Array:
    """`pattern` -> `repl` in the texts where `mask` is true (all texts without a mask)."""
    if mask is None or mask.all():
        return pc.replace_substring_regex(texts, pattern, repl)
    if not mask.any():
        return texts
    m = pa.array(mask)
    return pc.replace_with_mask(
        texts, m, pc.replace_substring_regex(texts.filter(m), pattern, repl)
    )


def _having(texts: pa.Array, literals: tuple[str, ...], mask: np.ndarray | None = None):
    """`mask` (None: all texts) and-ed with: the text contains one of `literals` (a search
    is ~10x cheaper than a rewrite pass, so rare rules skip the texts they cannot change).
    One RE2 search for all of them: it stops at the first hit and skips ahead by memchr,
    ~3x faster than Arrow's literal `match_substring` per literal."""
    if mask is not None and not mask.any():
        return np.zeros(len(texts), dtype=bool)
    found = flags(pc.match_substring_regex(texts, "|".join(map(re.escape, literals))))
    return found if mask is None else found & mask


def _infixes(texts: pa.Array, pairs: list[str], mask: np.ndarray | None = None) -> pa.Array:
    """A space each side of the infix of every (left)(infix + right) pattern in `pairs` (at
    most 4: with one more group that is 9, all RE2 rewrites know), outside URLs and e-mail
    addresses. Three passes (a regex pass costs about one RE2 call per match, so the
    second and third start with a literal that RE2 finds by memchr):
    1. every infix gets a _MARK before it (a URL one at its end);
    2. matches do not overlap, so in a-b-c the b of a match is not the left character of
       the next infix: those, the infixes right after a marked one, get theirs;
    3. a space each side of the character after each mark (a URL's: its end, or the
       whitespace after it, which cuts nothing)."""
    alternatives = "|".join(pairs)
    left = "".join(f"\\{2 + 2 * i}" for i in range(len(pairs)))
    right = "".join(f"\\{3 + 2 * i}" for i in range(len(pairs)))
    urls = _having(texts, ("://", "@"), mask)  # the URL alternative costs ~20%: only there
    plain = ~urls if mask is None else mask & ~urls
    texts = _sub(texts, f"{_URL}|{alternatives}", f"\\1{left}{_MARK}{right}", urls)
    texts = _sub(texts, f"(){alternatives}", f"\\1{left}{_MARK}{right}", plain)
    texts = _sub(texts, f"({_MARK}\\S)(?:{alternatives})", f"\\1{left}{_MARK}{right}", mask)
    return _sub(texts, f"{_MARK}(.?)", r" \1 ", mask)


def _chunked(texts: pa.Array, languages=None) -> pa.Array:
    """The texts with a space wherever `tokens` cuts inside a whitespace-separated chunk,
    except between the characters of a punctuation-only chunk. `languages`: each text's
    (base) language code, None for English (datatrove's default)."""
    texts = texts.cast(pa.large_string())
    # base codes: 'fr', 'fr-CA', 'fr_Latn' -> 'fr'; a missing language is English
    langs = None
    if languages is not None:
        langs = [(x or "en").split("_")[0].split("-")[0] for x in languages]

    def where(test) -> np.ndarray | None:  # mask of the texts whose language passes `test`
        if langs is None:
            return None if test("en") else np.zeros(len(texts), dtype=bool)
        return np.fromiter((test(x) for x in langs), dtype=bool, count=len(langs))

    texts = _sub(texts, _ELLIPSIS, r" \1 ", _having(texts, ("..", "…")))
    texts = pc.replace_substring_regex(texts, _LEAD, r"\1\2 ")
    for dot in _DOTS:
        texts = pc.replace_substring_regex(texts, dot, r"\1 \2")
    texts = pc.replace_substring_regex(texts, _TRAIL, r" \1\2")
    percent = _having(texts, ("%",), where(lambda x: x not in _NO_PERCENT))
    texts = _sub(texts, r"(\p{N})%", r"\1 %", percent)
    # the three apostrophe rules touch only texts with an apostrophe (none of them adds one)
    quoted = _having(texts, ("'", "’"))

    def quoted_in(test) -> np.ndarray:
        mask = where(test)
        return quoted if mask is None else quoted & mask

    texts = _sub(texts, _CONTRACTION["en"], r"\1 \2\3", quoted_in(lambda x: x == "en"))
    s_suffix = quoted_in(lambda x: x != "en" and x not in _NO_S_SUFFIX)
    texts = _sub(texts, _CONTRACTION["s"], r"\1 \2\3", s_suffix)
    texts = _sub(texts, _ELISION, r"\1 \2", quoted_in(lambda x: x in _ELISION_LANGUAGES))
    # infixes: one regex per group of languages with the same rules (hyphens, digits)
    for hyphen, digits in (("en", True), ("letters", True), (None, True), (None, False)):
        if hyphen == "en":
            mask = where(lambda x: x == "en")
        else:
            mask = where(
                lambda x, h=hyphen, d=digits: (
                    x != "en"
                    and (x not in _NO_HYPHEN) == (h is not None)
                    and (x not in _NO_DIGIT_INFIX) == d
                )
            )
        if mask is not None and not mask.any():
            continue
        pairs = [_INFIX_CASE, _INFIX_SYMBOL]
        pairs += ([_INFIX_HYPHEN[hyphen]] if hyphen else []) + ([_INFIX_DIGITS] if digits else [])
        texts = _infixes(texts, pairs, mask)
    nospace = where(lambda x: x in NOSPACE_LANGUAGES)
    return _sub(texts, f"([{NOSPACE_SCRIPTS}])", r" \1 ", nospace)


def tokens(texts: pa.Array, languages=None) -> tuple[pa.Array, np.ndarray]:
    """(every token of every text, the index of its text), spaCy's tokenizer's rules for
    the text's language in bulk (`languages`: one code per text, None: all English):
    whitespace-separated chunks, each cut into its leading punctuation (one token per
    prefix character), its core (one token, cut at infixes: hyphens, a.B, a/b, 1-2 ...,
    English contractions, French elisions; around characters of scripts without spaces in
    those languages) and its trailing punctuation (one token per suffix character).
    Regexes run over whole texts where they can (per-element calls cost ~1 us each)."""
    chunks, parent = _flat(split_whitespace(_chunked(texts, languages)))
    punct = pc.match_substring_regex(chunks, _PUNCT_ONLY)
    # a chunk of prefix characters only is a token per character: split just those chunks
    split_up = pc.replace_substring_regex(chunks.filter(punct), _PUNCT_TOKEN, r"\1 ")
    chunks = pc.replace_with_mask(chunks, punct, split_up)
    flat, chunk_parent = _flat(split_whitespace(chunks))
    keep = pc.greater(pc.utf8_length(flat), 0)
    return flat.filter(keep), parent[chunk_parent][flags(keep)]


def tokens_with(
    texts: pa.Array, words_of: dict[int, list[str]], languages=None
) -> tuple[pa.Array, np.ndarray]:
    """`tokens(texts, languages)`, except that the texts at the indices in `words_of` have
    the words given there (a dictionary segmenter's), in the same (token, parent) layout."""
    if not words_of:
        return tokens(texts, languages)
    cut = np.array(sorted(words_of), dtype=np.int64)
    given = pa.array([w for i in cut.tolist() for w in words_of[i]], pa.large_string())
    local = np.repeat(np.arange(len(cut)), [len(words_of[i]) for i in cut.tolist()])
    return tokens_from(texts, [(cut, given, local)], languages)


def tokens_from(
    texts: pa.Array, given: list[tuple[np.ndarray, pa.Array, np.ndarray]], languages=None
) -> tuple[pa.Array, np.ndarray]:
    """`tokens(texts)`, except for the texts some other tokenizer cut: each element of
    `given` is (their indices in `texts`, their tokens, each token's position in those
    indices), in the same (token, parent) layout; the other texts get `tokens` (with their
    entries of `languages`)."""
    given = [g for g in given if len(g[0])]
    if not given:
        return tokens(texts, languages)
    cut = np.concatenate([g[0] for g in given])
    rest = np.setdiff1d(np.arange(len(texts)), cut)
    rest_langs = None if languages is None else [languages[i] for i in rest.tolist()]
    if len(rest):
        toks, parent = tokens(texts.take(pa.array(rest)), rest_langs)
    else:
        toks, parent = tokens(texts.slice(0, 0))
    all_toks = pa.concat_arrays(
        [toks.cast(pa.large_string())] + [g[1].cast(pa.large_string()) for g in given]
    )
    all_parent = np.concatenate([rest[parent]] + [g[0][g[2]] for g in given])
    order = np.argsort(all_parent, kind="stable")  # each text's tokens stay in text order
    return all_toks.take(pa.array(order)), all_parent[order]


def token_counts(texts: pa.Array, languages=None) -> np.ndarray:
    """Per text, how many `tokens(texts, languages)` it has, without building them: each
    non-empty whitespace chunk of the cut text is one token, except a chunk of prefix
    characters only, which is one per character (as `tokens` splits it). One split and one
    regex test per chunk, not a regex match per token (RE2 costs about one call per match):
    ~2x faster than `tokens` where only the count is needed."""
    split = split_whitespace(_chunked(texts, languages))
    chunks, parent = _flat(split)
    length = lengths(chunks)
    punct = flags(pc.match_substring_regex(chunks, _PUNCT_ONLY))
    per_chunk = np.where(punct, length, length > 0)
    return per_doc(parent, len(texts), per_chunk)


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


def split_at(texts: pa.Array, separator: str) -> tuple[pa.Array, np.ndarray]:
    """Pieces of every text cut at a literal `separator` (str.split semantics, empty pieces
    kept): `split` for a literal, ~4x faster."""
    return _flat(pc.split_pattern(texts, separator))


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
