"""MinHash for batches of documents: hashing normalisation, shingles, signatures, LSH bands.

Everything after one `str.lower()` / NFD over the joined batch runs as numpy array
operations over the batch's code points, so there is no per-token Python loop:

1. normalise: lowercase, accents stripped (NFD, combining marks dropped), digits -> 0,
   punctuation treated as whitespace; whitespace runs are always insignificant.
2. tokens: runs of word characters; a character of a script written without spaces
   (Han, kana, Thai, Lao, Khmer, Myanmar) is a token of its own, so word n-grams over
   Chinese or Japanese become character n-grams instead of one giant "word".
   Unit `char`: every character (with whitespace runs collapsed to one space) is a token.
3. shingles: n consecutive tokens; a document with fewer than n tokens is one shingle.
   Token hashes are polynomial prefix hashes mod 2^64 (exact for these short spans),
   shingle hashes mix n token hashes and end in the 64-bit MurmurHash3 finalizer.
4. signatures: datasketch's `affine32` scheme, pinned (datasketch 2.0.x): the 32-bit
   shingle hash is pre-mixed with the 32-bit MurmurHash3 finalizer, then permuted by
   `a*h + b mod 2^32` with datasketch's own (a, b) for `seed`. A signature row is
   bit-identical to `datasketch.MinHash(scheme="affine32", hashfunc=identity)` fed the
   same hashes (tested), so sketches can be exchanged with datasketch.
"""

from __future__ import annotations

import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SCHEME = "affine32"  # datasketch's permutation scheme; never the pre-2.0 "legacy" one
MAX_HASH = np.uint32(0xFFFFFFFF)  # value of an empty signature slot
_MARK = "\x1e"  # separates documents in a joined batch; never a token character

# character classes (bit flags) in the code-point table
_WORD, _SPACE, _COMBINING, _DIGIT, _NOSPACE = 1, 2, 4, 8, 16
_NOSPACE_RANGES = (  # scripts written without spaces between words
    (0x0E00, 0x0EFF),
    (0x1000, 0x109F),
    (0x1780, 0x17FF),
    (0x2E80, 0x2FDF),
    (0x3005, 0x3007),
    (0x3040, 0x30FF),
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
    (0x20000, 0x3FFFF),
)
_U64 = np.uint64
_P_CHAR = _U64(0x100000001B3)  # odd base of the token prefix hash
_INV_P_CHAR = _U64(pow(int(_P_CHAR), -1, 1 << 64))
_M_SHINGLE = _U64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class ShingleSpec:
    """How a text becomes a set of shingles (defaults as in datatrove / FineWeb)."""

    ngram: int = 5
    unit: str = "word"  # "word" or "char"
    lowercase: bool = True
    strip_punctuation: bool = True
    normalize_digits: bool = True
    remove_accents: bool = True


@lru_cache(maxsize=1)
def _char_table() -> np.ndarray:
    """Class flags for every code point (built once per process, ~0.3 s)."""
    table = np.full(0x110000, _WORD, dtype=np.uint8)  # unassigned astral: treat as letters
    for c in range(0x30000):
        ch = chr(c)
        flags = 0
        cat = unicodedata.category(ch)
        if ch.isalnum() or cat[0] == "M":
            flags |= _WORD
        if ch.isspace():
            flags |= _SPACE
        if unicodedata.combining(ch):
            flags |= _COMBINING
        if ch.isdecimal():
            flags |= _DIGIT
        table[c] = flags
    for lo, hi in _NOSPACE_RANGES:
        table[lo : hi + 1] |= _NOSPACE
    table[ord(_MARK)] = 0
    return table


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (a bijection that avalanches every bit)."""
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, exactly as datasketch's affine32 pre-mix."""
    u = np.uint32
    h = h ^ (h >> u(16))
    h = h * u(0x85EBCA6B)
    h = h ^ (h >> u(13))
    h = h * u(0xC2B2AE35)
    return h ^ (h >> u(16))


def _join(texts: list[str], spec: ShingleSpec) -> str:
    big = _MARK.join(texts)
    if big.count(_MARK) != max(len(texts) - 1, 0):  # a text holds the separator itself
        big = _MARK.join(t.replace(_MARK, " ") for t in texts)
    if spec.lowercase:
        big = big.lower()
    if spec.remove_accents and not big.isascii():
        big = unicodedata.normalize("NFD", big)
    return big


def _shifted(a: np.ndarray, by: int, fill=False) -> np.ndarray:
    """a[i - by] (by > 0: previous element) with `fill` past the edge."""
    out = np.full_like(a, fill)
    if by > 0:
        out[by:] = a[:-by]
    else:
        out[:by] = a[-by:]
    return out


def _tokens(texts: list[str], spec: ShingleSpec) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hash per token, document index per token) for the whole batch."""
    cp = np.frombuffer(_join(texts, spec).encode("utf-32-le", "surrogatepass"), np.uint32)
    cls = _char_table()[cp]
    mark = cp == ord(_MARK)
    if spec.remove_accents:
        keep = (cls & _COMBINING) == 0
        cp, cls, mark = cp[keep], cls[keep], mark[keep]
    doc = np.cumsum(mark)
    if spec.normalize_digits:
        cp = np.where((cls & _DIGIT) != 0, np.uint32(ord("0")), cp)
    tok = ~mark & ((cls & _SPACE) == 0)
    if spec.strip_punctuation:
        tok &= (cls & _WORD) != 0
    if spec.unit == "char":
        # whitespace runs -> one space, none at a document's start or end
        idx = np.where(tok, np.arange(len(tok)), len(tok))
        nxt = np.minimum.accumulate(idx[::-1])[::-1]
        has_next = (nxt < len(tok)) & (doc[np.minimum(nxt, len(tok) - 1)] == doc)
        sep = ~tok & ~mark & _shifted(tok, 1) & has_next
        keep = tok | sep
        values = np.where(sep, np.uint32(32), cp)[keep].astype(_U64)
        return fmix64(values * _P_CHAR + _U64(1)), doc[keep]
    nospace = tok & ((cls & _NOSPACE) != 0)
    starts = np.flatnonzero(tok & (~_shifted(tok, 1) | nospace | _shifted(nospace, 1)))
    ends = np.flatnonzero(tok & (~_shifted(tok, -1) | nospace | _shifted(nospace, -1))) + 1
    # prefix hash H[i] = sum_{j<i} (cp_j + 1) * P^j; a span's hash is (H[e]-H[s]) / P^s
    n = len(cp)
    powers = np.cumprod(np.full(n, _P_CHAR, _U64)) * _INV_P_CHAR if n else np.ones(0, _U64)
    prefix = np.zeros(n + 1, _U64)
    np.cumsum((cp.astype(_U64) + _U64(1)) * powers, out=prefix[1:])
    inv = np.cumprod(np.full(n, _INV_P_CHAR, _U64)) * _P_CHAR if n else np.ones(0, _U64)
    hashes = (prefix[ends] - prefix[starts]) * inv[starts]
    return fmix64(hashes), doc[starts]


def shingle_hashes(
    texts: list[str], spec: ShingleSpec, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash per shingle, offsets): document i owns hashes[offsets[i]:offsets[i+1]].

    A document without any token has no shingles (and will match nothing).
    A document's hashes do not depend on the rest of the batch, so `threads` threads
    (default 1: a stage's Beam worker threads, one per core, already hash their parts in
    parallel) each hash a contiguous slice of the batch (numpy lets go of the GIL in the
    array work) and the slices are joined in order.

    >>> h, off = shingle_hashes(["a b c d e f", "x"], ShingleSpec(ngram=5))
    >>> off.tolist()
    [0, 2, 3]
    """
    n = min(threads or 1, len(texts) // MIN_DOCS_PER_THREAD)
    if n <= 1:
        return _shingle_hashes(texts, spec)
    step = -(-len(texts) // n)
    with ThreadPoolExecutor(n) as pool:
        parts = list(
            pool.map(
                lambda k: _shingle_hashes(texts[k : k + step], spec), range(0, len(texts), step)
            )
        )
    starts = np.cumsum([0] + [len(h) for h, _ in parts])
    offsets = np.concatenate(
        [off[:-1] + start for (_, off), start in zip(parts, starts, strict=False)] + [starts[-1:]]
    ).astype(np.int64)
    return np.concatenate([h for h, _ in parts]), offsets


MIN_DOCS_PER_THREAD = 64


def _shingle_hashes(texts: list[str], spec: ShingleSpec) -> tuple[np.ndarray, np.ndarray]:
    n_docs, n = len(texts), spec.ngram
    tok, tok_doc = _tokens(texts, spec)
    counts = np.bincount(tok_doc, minlength=n_docs)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    per_doc = np.where(counts >= n, counts - n + 1, (counts > 0).astype(np.int64))
    offsets = np.concatenate([[0], np.cumsum(per_doc)]).astype(np.int64)
    sh_doc = np.repeat(np.arange(n_docs), per_doc)
    start = first[sh_doc] + (np.arange(offsets[-1]) - offsets[sh_doc])
    length = np.minimum(n, counts[sh_doc]).astype(_U64)
    h = np.zeros(len(start), _U64)
    last = max(len(tok) - 1, 0)
    for i in range(n):
        part = tok[np.minimum(start + i, last)] if len(tok) else h
        h = np.where(_U64(i) < length, h * _M_SHINGLE + part, h)
    return fmix64(h ^ length), offsets


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a odd, b) for `seed`."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def signatures(
    hashes: np.ndarray,
    offsets: np.ndarray,
    num_perm: int = 128,
    seed: int = 1,
    chunk: int = 8192,
    threads: int | None = None,
) -> np.ndarray:
    """MinHash signatures (n_docs x num_perm, uint32) of every document's shingle hashes.
    Work goes in chunks of whole documents of about `chunk` shingles, so memory stays at
    chunk x num_perm x 4 bytes per thread whatever the batch size. numpy lets go of the GIL
    inside the multiply, add and min-reduce, so `threads` threads (default 1, as for
    `shingle_hashes`) each take a contiguous run of chunks; each writes its own rows, so the
    result is the same as one thread's.
    """
    a, b = permutations(num_perm, seed)
    hv = fmix32((hashes & _U64(0xFFFFFFFF)).astype(np.uint32))
    n_docs = len(offsets) - 1
    out = np.full((n_docs, num_perm), MAX_HASH, np.uint32)
    nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
    ends = offsets[nonempty + 1]
    chunks, i = [], 0
    while i < len(nonempty):
        j = int(np.searchsorted(ends, offsets[nonempty[i]] + chunk, side="right"))
        chunks.append(nonempty[i : max(j, i + 1)])
        i = max(j, i + 1)

    def run(docs_list) -> None:
        for docs in docs_list:
            lo, hi = offsets[docs[0]], offsets[docs[-1] + 1]
            phv = hv[lo:hi, None] * a
            phv += b
            out[docs] = np.minimum.reduceat(phv, offsets[docs] - lo, axis=0)

    n = min(threads or 1, len(chunks))
    if n <= 1:
        run(chunks)
        return out
    step = -(-len(chunks) // n)
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(run, [chunks[k : k + step] for k in range(0, len(chunks), step)]))
    return out


def estimated_jaccard(sig: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Fraction of equal slots between one signature and each row of `others`."""
    return (np.asarray(others) == np.asarray(sig)).mean(axis=-1)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two shingle-hash sets."""
    a, b = np.unique(a), np.unique(b)
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (document, band); equal keys = equal rows in that band."""
    n = sig.shape[0]
    x = sig[:, : bands * rows].reshape(n, bands, rows).astype(_U64)
    h = np.broadcast_to(fmix64(np.arange(1, bands + 1, dtype=_U64)), (n, bands)).copy()
    for j in range(rows):
        h = fmix64(h * _M_SHINGLE + x[:, :, j])
    return h


def _integral(f, lo: float, hi: float, steps: int = 401) -> np.ndarray:
    s = np.linspace(lo, hi, steps)
    y = f(s[:, None, None])
    return ((y[1:] + y[:-1]) / 2 * np.diff(s)[:, None, None]).sum(axis=0)


def s_curve(s, bands: int, rows: int):
    """Probability that a pair with Jaccard `s` shares at least one band."""
    return 1.0 - (1.0 - np.asarray(s, dtype=float) ** rows) ** bands


def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising the weighted areas under the
    S-curve below the threshold (false positives) and above 1 - it (false negatives).

    >>> optimal_bands(0.8, 128)
    (9, 13)
    """
    b = np.arange(1, num_perm + 1, dtype=float)[:, None]
    r = np.arange(1, num_perm + 1, dtype=float)[None, :]
    fp = _integral(lambda s: 1 - (1 - s**r) ** b, 0.0, threshold)
    fn = _integral(lambda s: (1 - s**r) ** b, threshold, 1.0)
    error = fp * fp_weight + fn * fn_weight
    error[b * r > num_perm] = np.inf
    bi, ri = np.unravel_index(np.argmin(error), error.shape)
    return int(bi) + 1, int(ri) + 1
