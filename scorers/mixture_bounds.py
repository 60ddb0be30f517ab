"""Range queries over merge steps, and upper bounds on the mixture LP (see mixture_lp).

Every (pair, interval of steps) segment of `mixture_lp.Segments` has one mixed count; these
answer "where in [s, e] is the threshold lowest" and "what is the largest segment value
covering step t" for all segments at once (sparse tables, numpy), and turn the LP's slacks
into a feasible point whose objective certifies an upper bound.
"""

from __future__ import annotations

import numpy as np


def range_argmin(x: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """argmin of x over [s_j, e_j] for every j (sparse table, vectorised queries)."""
    idx = [np.arange(len(x))]
    k = 1
    while 2 * k <= len(x):
        prev = idx[-1]
        a, b = prev[: len(x) - 2 * k + 1], prev[k : len(x) - k + 1]
        idx.append(np.where(x[a] <= x[b], a, b))
        k *= 2
    lvl = np.floor(np.log2(e - s + 1)).astype(np.int64)
    out = np.empty(len(s), dtype=np.int64)
    for j in np.unique(lvl):
        sel = lvl == j
        tab = idx[j]
        a, b = tab[s[sel]], tab[e[sel] - (1 << j) + 1]
        out[sel] = np.where(x[a] <= x[b], a, b)
    return out


def cover_from_lp(seg, alpha, mixed, vt, step_max) -> float:
    """`cover_bound` from the LP's step slacks raised by each step's remaining violation."""
    return cover_bound(seg, alpha @ seg.merge, mixed, vt + np.clip(step_max, 0, None))


def bound_at(seg, alpha: np.ndarray, vp: np.ndarray) -> float:
    """Upper bound on the full LP at any alpha: given pair slacks vp (a nearby iterate's),
    the least step slacks that cover every row, then improved by `cover_bound`."""
    m = alpha @ seg.merge
    mixed = seg.values(alpha)
    vals = mixed - vp[seg.pid[seg.rows]]
    vt = np.clip(range_max_cover(seg.s, seg.e, vals, len(m)) - m, 0, None)
    return min(vt.sum() + vp.sum(), cover_bound(seg, m, mixed, vt))


def range_max_cover(s, e, vals, T: int) -> np.ndarray:
    """For each step t, the max of vals over segments covering t (-inf if none)."""
    lvl = np.floor(np.log2(e - s + 1)).astype(np.int64)
    levels = int(lvl.max()) + 1 if len(lvl) else 1
    tab = np.full((levels, T), -np.inf)
    for j in range(levels):
        sel = lvl == j
        np.maximum.at(tab[j], s[sel], vals[sel])
        np.maximum.at(tab[j], e[sel] - (1 << j) + 1, vals[sel])
    for j in range(levels - 1, 0, -1):
        h = 1 << (j - 1)
        np.maximum(tab[j - 1], tab[j], out=tab[j - 1])
        np.maximum(tab[j - 1][h:], tab[j][: T - h], out=tab[j - 1][h:])
    return tab[0]


def cover_bound(seg, merge_mixed, mixed, vt) -> float:
    """The objective of a feasible point, so an upper bound on the full LP's optimum.

    Given step slacks vt that are feasible together with the LP's pair slacks (the LP's v_t
    raised by each step's largest remaining violation), set v_p to the least that satisfies
    every row given vt, then v_t to the least given that v_p; both points are feasible and
    the cheaper one is returned. (GPT-2, n = 16, at the stop: 446k against the plain 477k.)"""
    thr = merge_mixed + vt
    at = range_argmin(thr, seg.s, seg.e)
    need = np.clip(mixed - thr[at], 0, None)
    vp = np.zeros(seg.P)
    np.maximum.at(vp, seg.pid[seg.rows], need)
    best = range_max_cover(seg.s, seg.e, mixed - vp[seg.pid[seg.rows]], len(thr))
    vt2 = np.clip(best - merge_mixed, 0, None)
    return float(min(vt.sum() + vp.sum(), vt2.sum() + vp.sum()))
