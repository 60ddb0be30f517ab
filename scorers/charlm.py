"""Character n-gram language models: the built-in, offline model family for PreSelect.

A family of small LMs (increasing order and/or training size) stands in for a family of
neural LMs so the whole predictive-strength loop runs on a laptop. A member's "benchmark
score" is minus its bits per character on a held-out target set the user names (higher
is better, like a benchmark accuracy).

Model: interpolated absolute discounting over contexts of length 0..order-1,
  p_k(c | h) = (max(n(h,c) - D_k, 0) + D_k * T(h) * p_{k-1}(c | h')) / n(h)
where T(h) is the number of distinct characters seen after h, h' is h shortened by one
character, p_{-1} is uniform over the vocabulary (+ one unknown symbol), and D_k comes
from the count-of-counts (n1 / (n1 + 2 n2)). Everything is vectorised with numpy:
contexts are 64-bit polynomial hashes, counts live in sorted arrays, lookups are binary
searches, so a few MB of text trains and scores in seconds.

Each document is scored on its own: it is preceded by order-1 padding symbols, so no
context crosses from one document into the next.

>>> lm = CharNgramLM(order=4).fit(["the cat sat on the mat"] * 10)
>>> round(float(lm.bpc(["the cat sat"])), 2) < 2
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_PAD = 0  # padding before each document (codepoint 0 also maps here)
_UNK = 1  # characters never seen in training
_MULT = np.uint64(0x9E3779B97F4A7C15)
_PAIR = np.uint64(0xC2B2AE3D27D4EB4F)


def _encode(texts: Sequence[str], pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codepoints of all docs, each preceded by `pad` zeros; target mask; doc index per target)."""
    sep = "\x00" * pad
    joined = sep + sep.join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    target = np.ones(len(cps), dtype=bool)
    starts = np.cumsum(np.concatenate([[0], lengths[:-1] + pad])) if len(texts) else []
    for s in starts:  # mark padding (a few per document) as not-a-target
        target[s : s + pad] = False
    doc_index = np.repeat(np.arange(len(texts)), lengths)
    return cps, target, doc_index


def _context_hashes(ids: np.ndarray, pad: int, k: int) -> np.ndarray:
    """Hash of the k characters before each position >= pad."""
    n = len(ids) - pad
    h = np.zeros(n, dtype=np.uint64)
    for j in range(1, k + 1):
        h = h * _MULT + ids[pad - j : pad - j + n].astype(np.uint64) + np.uint64(1)
    return h


def _lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[keys == q] for each query, 0 where the key is absent."""
    if len(keys) == 0:
        return np.zeros(len(queries), dtype=values.dtype)
    pos = np.searchsorted(keys, queries)
    pos[pos == len(keys)] = 0
    return np.where(keys[pos] == queries, values[pos], 0)


@dataclass
class _OrderTable:
    ctx_keys: np.ndarray
    ctx_total: np.ndarray
    ctx_types: np.ndarray
    pair_keys: np.ndarray
    pair_count: np.ndarray
    discount: float


@dataclass
class CharNgramLM:
    """A character n-gram LM. `order` = context length + 1 (order 1 is a unigram model)."""

    order: int = 4
    name: str = ""
    vocab: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint32))
    tables: list = field(default_factory=list)
    trained_chars: int = 0

    def _ids(self, cps: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.vocab, cps)
        pos[pos == len(self.vocab)] = 0
        found = (self.vocab[pos] == cps) if len(self.vocab) else np.zeros(len(cps), bool)
        ids = np.where(found, pos + 2, _UNK).astype(np.uint32)
        ids[cps == 0] = _PAD
        return ids

    def fit(self, texts: Sequence[str]) -> CharNgramLM:
        pad = self.order - 1
        cps, target, _ = _encode(texts, pad)
        self.vocab = np.unique(cps[target & (cps != 0)])
        ids = self._ids(cps)
        chars = ids[pad:][target[pad:]].astype(np.uint64)
        self.trained_chars = len(chars)
        self.tables = []
        for k in range(self.order):
            ctx = _context_hashes(ids, pad, k)[target[pad:]]
            pair = (ctx ^ (chars * _PAIR)) * _MULT + chars
            pair_keys, first, pair_count = np.unique(pair, return_index=True, return_counts=True)
            ctx_keys, ctx_total = np.unique(ctx, return_counts=True)
            type_keys, ctx_types = np.unique(ctx[first], return_counts=True)
            n1, n2 = np.sum(pair_count == 1), np.sum(pair_count == 2)
            discount = float(np.clip(n1 / (n1 + 2 * n2), 0.1, 0.95)) if n1 + n2 else 0.5
            self.tables.append(
                _OrderTable(
                    ctx_keys,
                    ctx_total,
                    _lookup(type_keys, ctx_types, ctx_keys),
                    pair_keys,
                    pair_count,
                    discount,
                )
            )
        return self

    def log_probs(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(natural-log probability of every character, document index of each)."""
        if not self.tables:
            raise RuntimeError("CharNgramLM.fit must be called before scoring")
        pad = self.order - 1
        cps, target, doc_index = _encode(texts, pad)
        ids = self._ids(cps)
        chars = ids[pad:][target[pad:]].astype(np.uint64)
        p = np.full(len(chars), 1.0 / (len(self.vocab) + 1))  # uniform over vocab + unknown
        for k, t in enumerate(self.tables):
            ctx = _context_hashes(ids, pad, k)[target[pad:]]
            pair = (ctx ^ (chars * _PAIR)) * _MULT + chars
            total = _lookup(t.ctx_keys, t.ctx_total, ctx).astype(np.float64)
            types = _lookup(t.ctx_keys, t.ctx_types, ctx).astype(np.float64)
            count = _lookup(t.pair_keys, t.pair_count, pair).astype(np.float64)
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            mixed = (np.maximum(count - t.discount, 0.0) + t.discount * types * p) / safe
            p = np.where(seen, mixed, p)
        return np.log(p), doc_index

    def doc_nll(self, texts: Sequence[str]) -> np.ndarray:
        """Summed negative log-likelihood (nats) of each document, scored on its own."""
        logp, doc_index = self.log_probs(texts)
        return np.bincount(doc_index, weights=-logp, minlength=len(texts))

    def bpc(self, texts: Sequence[str]) -> float:
        """Bits per character over all of `texts` (each document scored on its own)."""
        logp, _ = self.log_probs(texts)
        return float(-logp.sum() / (max(len(logp), 1) * math.log(2)))


def train_family(
    texts: Sequence[str],
    orders: Sequence[int] = (1, 2, 3, 4, 5),
    sizes: Sequence[float] = (1.0,),
    seed: int = 0,
) -> list[CharNgramLM]:
    """One model per (order, size): size is the fraction of `texts` (a fixed random order
    of documents, nested: a larger size sees everything a smaller one saw)."""
    order_of_docs = np.random.default_rng(seed).permutation(len(texts))
    family = []
    for size in sizes:
        n = max(1, round(size * len(texts)))
        subset = [texts[i] for i in order_of_docs[:n]]
        for order in orders:
            name = f"charlm-o{order}" + (f"-s{size:g}" if len(sizes) > 1 else "")
            family.append(CharNgramLM(order=order, name=name).fit(subset))
    return family


def benchmark_scores(family: Sequence[CharNgramLM], target_texts: Sequence[str]) -> dict:
    """Model name -> benchmark score = minus its BPC on the target texts (higher is better)."""
    return {m.name: -round(m.bpc(target_texts), 6) for m in family}


def train_mixture_family(
    texts: Sequence[str],
    groups: Sequence[str],
    members: int = 8,
    order: int = 5,
    seed: int = 0,
    alpha: float = 1.0,
) -> list[CharNgramLM]:
    """Members of one order trained on different data mixtures of the same pool.

    Member k draws weights w ~ Dirichlet(alpha) over the groups (e.g. sources) and takes
    a random w_g / max(w) share of group g's documents. Their benchmark ranking then says
    which mixtures help the target, and a document whose losses rank the members the
    same way is one like the data that helps (the PreSelect signal), whatever its group.
    """
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    by_group = {g: [i for i, x in enumerate(groups) if x == g] for g in names}
    family = []
    for k in range(members):
        w = rng.dirichlet([alpha] * len(names))
        chosen = []
        for g, weight in zip(names, w / w.max(), strict=True):
            idx = by_group[g]
            take = rng.permutation(len(idx))[: max(1, round(weight * len(idx)))]
            chosen += [idx[i] for i in take]
        subset = [texts[i] for i in sorted(chosen)]
        family.append(CharNgramLM(order=order, name=f"charlm-mix{k}").fit(subset))
    return family
