"""Replay a BPE merge list over one category's pretoken counts, recording pair-count changes.

c(t)_p is the count of adjacent symbol pair p (overlapping windows, as BPE trainers count)
after merges 0..t-1. Only the pairs that touch an occurrence of the latest merge change, so
the replay stores c(0) plus, for every step, the (pair, delta) changes it caused. A merge is
applied only to the words that contain its pair (an inverted index kept lazily: a word may
stay listed under a pair it lost, and is then scanned for nothing), so the cost of a step is
proportional to the words it touches, not to the vocabulary.

Pairs are int64 keys `left * V + right` over a symbol table shared by every category, so the
keys of different categories' replays agree.
"""

from __future__ import annotations

import itertools
from array import array
from collections import defaultdict
from dataclasses import dataclass

import numpy as np


@dataclass
class SymbolTable:
    """Symbol string -> id: every string of the merge list, then extra initial symbols."""

    ids: dict[str, int]

    @property
    def size(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, merges, merged, extra=()) -> SymbolTable:
        ids: dict[str, int] = {}
        for a, b in merges:
            for s in (a, b, merged(a, b)):
                if s not in ids:
                    ids[s] = len(ids)
        for s in sorted(set(extra)):
            if s not in ids:
                ids[s] = len(ids)
        return cls(ids)


@dataclass
class Replay:
    """One category's pair counts through T merge steps (all counts are raw integers)."""

    merge_counts: np.ndarray  # int64 [T]: count of merge t's pair just before step t
    init_keys: np.ndarray  # int64: pairs present at step 0 (sorted)
    init_counts: np.ndarray  # int64
    ev_step: np.ndarray  # int32: the step whose merge caused the change
    ev_key: np.ndarray  # int64
    ev_delta: np.ndarray  # int64
    n_symbols: int  # V of the keys

    def counts_at(self, t: int) -> dict[int, int]:
        """Every nonzero pair count before step t (for checks; the LP never needs this)."""
        out = dict(zip(self.init_keys.tolist(), self.init_counts.tolist(), strict=True))
        sel = self.ev_step < t
        for k, d in zip(self.ev_key[sel].tolist(), self.ev_delta[sel].tolist(), strict=True):
            out[k] = out.get(k, 0) + d
        return {k: v for k, v in out.items() if v}


def pair_counts(words: list[list[int]], counts, n_symbols: int) -> dict[int, int]:
    """Brute-force pair counts of tokenised words (the reference the replay must match)."""
    out: dict[int, int] = defaultdict(int)
    for w, c in zip(words, counts, strict=True):
        for a, b in itertools.pairwise(w):
            out[a * n_symbols + b] += int(c)
    return dict(out)


def merge_word(seq: list[int], a: int, b: int, z: int, v: int):
    """Merge (a, b) -> z left to right in place; returns (removed keys, added keys)."""
    n = len(seq)
    occ = []
    i = 0
    try:
        while True:
            i = seq.index(a, i, n - 1)
            if seq[i + 1] == b:
                occ.append(i)
                i += 2
            else:
                i += 1
    except ValueError:
        pass
    if not occ:
        return (), ()
    # Old pairs touching a merged position: those starting at i-1, i and i+1.
    starts = sorted({j for i in occ for j in (i - 1, i, i + 1) if 0 <= j < n - 1})
    removed = [seq[j] * v + seq[j + 1] for j in starts]
    for i in reversed(occ):
        seq[i : i + 2] = [z]
    m = len(seq)
    new_pos = [i - k for k, i in enumerate(occ)]
    starts = sorted({j for q in new_pos for j in (q - 1, q) if 0 <= j < m - 1})
    added = [seq[j] * v + seq[j + 1] for j in starts]
    return removed, added


def replay(
    words: list[list[int]], counts, merge_ids: list[tuple[int, int, int]], n_symbols: int
) -> Replay:
    """Apply merges [(a, b, z), ...] in order to `words` (modified in place).

    >>> r = replay([[0, 1, 0, 1]], [3], [(0, 1, 2)], n_symbols=4)
    >>> r.merge_counts.tolist(), sorted(r.counts_at(1).items())
    ([6], [(10, 3)])
    """
    v = n_symbols
    counts = [int(c) for c in counts]
    pc: dict[int, int] = defaultdict(int)
    where: dict[int, set[int]] = defaultdict(set)
    for wi, w in enumerate(words):
        c = counts[wi]
        for a, b in itertools.pairwise(w):
            k = a * v + b
            pc[k] += c
            where[k].add(wi)
    init = sorted((k, c) for k, c in pc.items() if c)
    merge_counts = np.zeros(len(merge_ids), dtype=np.int64)
    ev_step, ev_key, ev_delta = array("i"), array("q"), array("q")
    for t, (a, b, z) in enumerate(merge_ids):
        key = a * v + b
        merge_counts[t] = pc.get(key, 0)
        touched = where.pop(key, None)
        if not touched:
            continue
        delta: dict[int, int] = defaultdict(int)
        for wi in touched:
            removed, added = merge_word(words[wi], a, b, z, v)
            c = counts[wi]
            for k in removed:
                delta[k] -= c
            for k in added:
                delta[k] += c
                where[k].add(wi)
        for k, d in delta.items():
            if d:
                pc[k] += d
                ev_step.append(t)
                ev_key.append(k)
                ev_delta.append(d)
    return Replay(
        merge_counts=merge_counts,
        init_keys=np.array([k for k, _ in init], dtype=np.int64),
        init_counts=np.array([c for _, c in init], dtype=np.int64),
        ev_step=np.frombuffer(ev_step, dtype=np.int32).copy(),
        ev_key=np.frombuffer(ev_key, dtype=np.int64).copy(),
        ev_delta=np.frombuffer(ev_delta, dtype=np.int64).copy(),
        n_symbols=v,
    )


def replay_pretokens(
    pretokens: list[str], counts, merges: list[tuple[str, str]], spec, table: SymbolTable
) -> Replay:
    """Split pretokens into initial symbols and replay `merges` (strings) over them.

    `spec` supplies `initial_symbols(pretoken)` and `merged(a, b)` (a `BPESpec`).
    """
    ids = table.ids
    words = [[ids[s] for s in spec.initial_symbols(p)] for p in pretokens]
    merge_ids = [(ids[a], ids[b], ids[spec.merged(a, b)]) for a, b in merges]
    return replay(words, counts, merge_ids, table.size)
