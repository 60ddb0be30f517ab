"""Infer mixture proportions from merge-step pair counts: the Hayase et al. LP, solved lazily.

Variables: alpha_i >= 0 (sum 1), a slack v_t per merge step, a slack v_p per pair. For every
step t and pair p != m(t):  sum_i alpha_i (c(t)_{i,p} - c(t)_{i,m(t)}) - v_t - v_p <= 0.
Minimise sum v_t + sum v_p. Counts are per MB of each category's sample, so alpha comes out
as shares of the tokenizer's training *bytes*.

Lazy generation. Each pair's mixed count is piecewise constant in t: it changes only at the
steps where some category's replay recorded a change. A round evaluates every such segment
at once (numpy, O(events)): a segment [s, e] with value x violates most at the step of
min over [s, e] of thr(t) = sum_i alpha_i c(t)_{i,m(t)} + v_t (a sparse-table range
minimum), and the largest of these violations, at most `per_step` per step and `per_round`
in all, become new rows. HiGHS re-solves warm (dual simplex after added rows).

Stopping rule (`stop`). Exact convergence ("converged": no constraint violated by more than
`viol_tol`) takes hundreds of rounds on sampled counts, because sampling noise leaves some
violated pair at most steps, while the proportions settle within tens of rounds. "stable"
stops once the last `patience` rounds moved no proportion by more than `alpha_tol`. On real
tokenizers the relaxed LP's answer keeps hopping by a few 1e-3 between near-equivalent
vertices for hundreds of rounds, so the default, "settled", compares the means of the last
two windows of `patience` rounds and answers with the last window's mean (a point of the
simplex, so still feasible). Tests check both against the converged answer. Every round also
reports a certified bound on what is left: the relaxed LP's objective L is a lower bound on
the full LP's optimum, and raising each v_t by the largest remaining violation at step t (a
range maximum over segments) gives a feasible point, whose objective U is an upper bound
(`cover_bound` then re-fits the pair and step slacks, both feasible, for a lower U); the
result carries L, U and the gap (U - L) / U (`gap_tol` stops on it), and the largest
relative violation left. With `rel_tol` > 0, "converged" means no constraint violated by more
than that share. Round and time limits are reported as such.

Round cost. The model is one HiGHS instance for the whole solve: rows are only appended, so
each re-solve starts from the previous optimal basis (a few dual simplex iterations per new
row). Rows whose slack stayed basic (zero dual) for `drop_after` solves are deleted; deleting
basic rows keeps the basis valid, and a dropped row that is violated again is re-found.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from thresher.scorers.merge_replay import Replay
from thresher.scorers.mixture_bounds import bound_at, cover_from_lp, range_argmin, range_max_cover


@dataclass
class SolveOptions:
    # Rows per round: bigger batches cost more simplex iterations per round without
    # settling the proportions in fewer rounds (measured at n = 30; bench/results/mixture.md).
    per_step: int = 3  # new constraints per merge step per round
    per_round: int = 1500  # new constraints per round
    viol_tol: float = 1e-6  # counts per MB: below this a constraint counts as satisfied
    rel_tol: float = 0.0  # ... or below this share of the competing pair's mixed count
    alpha_tol: float = 5e-4  # max |change| of any proportion over `patience` rounds
    patience: int = 5
    max_rounds: int = 500
    time_limit: float = 600.0
    stop: str = "settled"  # "settled" (window means; see above), "stable" or "converged"
    gap_tol: float = 0.0  # also stop once the certified gap (U - L) / U is at most this
    drop_after: int = 3  # delete a row basic (zero dual) this many solves running (0: never)


@dataclass
class SolveResult:
    proportions: np.ndarray
    objective: float
    upper_bound: float
    rounds: int
    constraints: int
    stop_reason: str
    seconds: float
    seconds_violations: float
    seconds_lp: float
    gap: float = float("nan")  # (upper_bound - objective) / upper_bound at the stop
    max_rel_violation: float = 0.0  # largest violation left / the competing pair's count
    rows_dropped: int = 0
    simplex_iterations: int = 0
    # Merges whose pair no category's sample shows at that step (no mixture explains them),
    # and how the LP's slack splits at the stop: over those steps, other steps, pairs.
    unexplained_steps: int = 0
    slack_unexplained_steps: float = 0.0
    slack_other_steps: float = 0.0
    slack_pairs: float = 0.0
    unexplained_first: list[int] = field(default_factory=list)  # the first 20 such steps
    history: list[dict] = field(default_factory=list)


class Segments:
    """Every (pair, interval of steps) on which the pair's per-category counts are constant."""

    def __init__(self, replays: list[Replay], sample_bytes, T: int):
        self.n, self.T = len(replays), T
        self.scale = 1e6 / np.asarray(sample_bytes, dtype=np.float64)
        keys, steps, deltas, cats = [], [], [], []
        for i, r in enumerate(replays):
            sel = r.ev_step < T
            keys += [r.init_keys, r.ev_key[sel]]
            steps += [np.full(len(r.init_keys), -1, np.int32), r.ev_step[sel]]
            deltas += [r.init_counts * self.scale[i], r.ev_delta[sel] * self.scale[i]]
            cats += [np.full(len(r.init_keys) + int(sel.sum()), i, np.int16)]
        self.pair_keys, pid = np.unique(np.concatenate(keys), return_inverse=True)
        step = np.concatenate(steps)
        order = np.lexsort((step, pid))
        self.pid = pid[order].astype(np.int32)
        self.step = step[order]
        self.delta = np.concatenate(deltas)[order]
        self.cat = np.concatenate(cats)[order]
        self.P = len(self.pair_keys)
        new_pid = np.r_[True, self.pid[1:] != self.pid[:-1]]
        self.group_start = np.maximum.accumulate(np.where(new_pid, np.arange(len(pid)), 0))
        # A row closes a segment when it is the last change of its pair at its step.
        last = np.r_[(self.pid[1:] != self.pid[:-1]) | (self.step[1:] != self.step[:-1]), True]
        nxt_same = np.r_[self.pid[1:] == self.pid[:-1], False]
        nxt_step = np.r_[self.step[1:], 0]
        rows = np.flatnonzero(last)
        s = self.step[rows] + 1
        e = np.where(nxt_same[rows], nxt_step[rows], T - 1)
        keep = s <= e
        self.rows, self.s, self.e = rows[keep], s[keep], e[keep]
        self.merge = np.stack([r.merge_counts[:T] * self.scale[i] for i, r in enumerate(replays)])
        # Per category: its rows in sorted order and their running sums (row coefficients).
        self.cat_pos = [np.flatnonzero(self.cat == i) for i in range(self.n)]
        self.cat_cum = [np.cumsum(self.delta[p]) for p in self.cat_pos]

    def values(self, alpha: np.ndarray) -> np.ndarray:
        """Mixed count of each segment under alpha."""
        cs = np.cumsum(alpha[self.cat] * self.delta)
        before = np.where(self.group_start > 0, cs[self.group_start - 1], 0.0)
        return (cs - before)[self.rows]

    def coefficients(self, rows: np.ndarray) -> np.ndarray:
        """[len(rows), n]: each category's count of the row's pair on the row's segment."""
        out = np.zeros((len(rows), self.n))
        g0 = self.group_start[rows]
        for i in range(self.n):
            pos, cum = self.cat_pos[i], self.cat_cum[i]
            if not len(pos):
                continue
            hi = np.searchsorted(pos, rows, side="right") - 1
            lo = np.searchsorted(pos, g0, side="left") - 1
            upto = np.where(hi >= 0, cum[np.maximum(hi, 0)], 0.0)
            below = np.where(lo >= 0, cum[np.maximum(lo, 0)], 0.0)
            out[:, i] = upto - below
        return out


def _quiet(make):
    """HiGHS prints a banner on construction, straight to fd 1; keep CLI output clean."""
    import os
    import sys

    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        return make()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


class LazyLP:
    """The relaxed LP in HiGHS: columns alpha (n), v_t (T), then v_p as pairs first appear."""

    def __init__(self, n: int, T: int):
        import highspy

        self.h = _quiet(highspy.Highs)
        self.h.setOptionValue("output_flag", False)
        # Rows only ever get added: a warm dual simplex beats presolving every round.
        self.h.setOptionValue("presolve", "off")
        self.n, self.T = n, T
        inf = highspy.kHighsInf
        self.inf = inf
        self._basic = highspy.HighsBasisStatus.kBasic
        cost = np.r_[np.zeros(n), np.ones(T)]
        self.h.addCols(
            n + T,
            cost,
            np.zeros(n + T),
            np.full(n + T, inf),
            0,
            np.array([], np.int32),
            np.array([], np.int32),
            np.array([]),
        )
        self.h.addRows(
            1,
            np.array([1.0]),
            np.array([1.0]),
            n,
            np.array([0], np.int32),
            np.arange(n, dtype=np.int32),
            np.ones(n),
        )
        self.pair_col: dict[int, int] = {}
        self.rows = 0  # rows ever added (the `constraints` reported)
        # Per live constraint row (HiGHS row i + 1; row 0 is sum alpha = 1): its key
        # step * P + pair and how many consecutive solves it was slack.
        self.keys = np.zeros(0, np.int64)
        self.slack = np.zeros(0, np.int32)
        self.dropped = 0
        self.iterations = 0

    def add(self, steps, pids, coef, P: int) -> None:
        """Rows: coef . alpha - v_t - v_p <= 0 (coef already net of the merged pair)."""
        new = [p for p in dict.fromkeys(pids.tolist()) if p not in self.pair_col]
        if new:
            base = self.h.getNumCol()
            self.pair_col.update({p: base + k for k, p in enumerate(new)})
            m = len(new)
            self.h.addCols(
                m,
                np.ones(m),
                np.zeros(m),
                np.full(m, self.inf),
                0,
                np.array([], np.int32),
                np.array([], np.int32),
                np.array([]),
            )
        k, n = len(steps), self.n
        idx = np.empty((k, n + 2), np.int32)
        val = np.empty((k, n + 2))
        idx[:, :n] = np.arange(n)
        val[:, :n] = coef
        idx[:, n] = n + steps
        idx[:, n + 1] = [self.pair_col[p] for p in pids.tolist()]
        val[:, n:] = -1.0
        # Categories without the pair or the merge add zeros: leave them out of the matrix.
        nz = val != 0
        starts = np.r_[0, np.cumsum(nz.sum(axis=1))[:-1]].astype(np.int32)
        self.h.addRows(
            k, np.full(k, -self.inf), np.zeros(k), int(nz.sum()), starts, idx[nz], val[nz]
        )
        self.rows += k
        self.keys = np.r_[self.keys, steps * P + pids]
        self.slack = np.r_[self.slack, np.zeros(k, np.int32)]

    def drop(self, after: int) -> int:
        """Delete rows slack for `after` solves in a row. They are basic (their slack is
        in the basis), so the basis stays valid and the next solve stays warm; the LP keeps
        the size of its active set instead of growing every round. A dropped row that
        becomes violated again is simply found and added again."""
        idx = np.flatnonzero(self.slack >= after) if after > 0 else np.zeros(0, np.int64)
        if len(idx):
            self.h.deleteRows(len(idx), (idx + 1).astype(np.int32))
            keep = np.ones(len(self.keys), bool)
            keep[idx] = False
            self.keys, self.slack = self.keys[keep], self.slack[keep]
            self.dropped += len(idx)
        return len(idx)

    def solve(self, P: int):
        self.h.run()
        self.iterations += self.h.getInfo().simplex_iteration_count
        sol = self.h.getSolution()
        x = np.asarray(sol.col_value)
        # A row whose slack variable is basic has a zero dual: removing it leaves the
        # current solution optimal (it may be tight, degenerately, but it binds nothing).
        basic = self._basic
        status = self.h.getBasis().row_status[1:]
        free = np.fromiter((st == basic for st in status), bool, len(status))
        self.slack = np.where(free, self.slack + 1, 0).astype(np.int32)
        alpha = np.clip(x[: self.n], 0, None)
        alpha /= alpha.sum()
        vp = np.zeros(P)
        if self.pair_col:
            pids = np.fromiter(self.pair_col.keys(), np.int64)
            vp[pids] = x[np.fromiter(self.pair_col.values(), np.int64)]
        return alpha, x[self.n : self.n + self.T], vp, self.h.getInfo().objective_function_value


def solve(
    replays: list[Replay],
    sample_bytes,
    T: int | None = None,
    options: SolveOptions | None = None,
    log=None,
) -> SolveResult:
    """Proportions (shares of training bytes) of the categories behind the merge list."""
    opt = options or SolveOptions()
    t0 = time.perf_counter()
    T = min(T or len(replays[0].merge_counts), len(replays[0].merge_counts))
    seg = Segments(replays, sample_bytes, T)
    lp = LazyLP(seg.n, T)
    unexplained = seg.merge.max(axis=0) <= 0
    alpha = np.full(seg.n, 1.0 / seg.n)
    vt, vp, lower = np.zeros(T), np.zeros(seg.P), 0.0
    history, t_viol, t_lp, reason = [], 0.0, 0.0, "max_rounds"
    upper = np.inf
    for rnd in range(opt.max_rounds + 1):
        ta = time.perf_counter()
        thr = alpha @ seg.merge + vt
        mixed = seg.values(alpha)
        vals = mixed - vp[seg.pid[seg.rows]]
        at = range_argmin(thr, seg.s, seg.e)
        viol = vals - thr[at]
        step_max = range_max_cover(seg.s, seg.e, vals, T) - thr
        upper = lower + float(np.clip(step_max, 0, None).sum())
        tight = rnd % opt.patience == 0 or opt.gap_tol > 0
        if tight:  # ~0.5 s at n = 30, so not every round
            upper = min(upper, cover_from_lp(seg, alpha, mixed, vt, step_max))
        # Relative violation: the share of the competitor's mixed count by which it beats
        # the merge (plus slacks); in [0, 1], and defined where the merge never occurs.
        base = np.maximum(mixed, 1e-12)
        rel = float((viol / base).max(initial=0.0))
        cand = np.flatnonzero(viol > np.maximum(opt.viol_tol, opt.rel_tol * base))
        if len(lp.keys) and len(cand):  # rows in the LP are satisfied up to its tolerance
            keys = at[cand] * seg.P + seg.pid[seg.rows[cand]]
            cand = cand[~np.isin(keys, lp.keys)]
        t_viol += time.perf_counter() - ta
        gap = (upper - lower) / max(upper, 1e-12)
        moved = _moved(history, alpha, opt.patience)
        drift = _drift(history, alpha, opt.patience)
        history.append(
            {
                "round": rnd,
                "alpha": alpha.tolist(),
                "lower": lower,
                "upper": upper,
                "gap": gap,
                "violated_segments": len(cand),
                "rows": lp.rows,
                "live_rows": len(lp.keys),
                "dropped": lp.dropped,
                "iterations": lp.iterations,
                "max_violation": float(viol.max(initial=0.0)),
                "max_rel_violation": rel,
                "moved": moved,
                "drift": drift,
            }
        )
        if log:
            log(history[-1])
        if not len(cand):
            reason = "converged"
            break
        if opt.stop == "stable" and moved < opt.alpha_tol:
            reason = "stable"
            break
        if opt.stop == "settled" and drift < opt.alpha_tol:
            # The answer is the mean of the last window: the relaxed LP's optimum jumps
            # between near-equivalent vertices, and the mean is feasible (the simplex is
            # convex), so the upper bound is re-certified at it.
            alpha = np.mean([h["alpha"] for h in history[-opt.patience :]], axis=0)
            upper, tight = bound_at(seg, alpha, vp), True
            gap = (upper - lower) / max(upper, 1e-12)
            history[-1].update(upper=upper, gap=gap)
            reason = "settled"
            break
        if gap <= opt.gap_tol:
            reason = "gap"
            break
        if rnd == opt.max_rounds:
            break
        if time.perf_counter() - t0 > opt.time_limit:
            reason = "time_limit"
            break
        pick = _select(cand, at[cand], viol[cand], opt.per_step, opt.per_round)
        rows = seg.rows[pick]
        steps = at[pick]
        pids = seg.pid[rows].astype(np.int64)
        coef = seg.coefficients(rows) - seg.merge[:, steps].T
        lp.drop(opt.drop_after)
        lp.add(steps, pids, coef, seg.P)
        tb = time.perf_counter()
        alpha, vt, vp, lower = lp.solve(seg.P)
        t_lp += time.perf_counter() - tb
    if not tight:  # certify the answer with the tighter bound
        upper = min(upper, cover_from_lp(seg, alpha, mixed, vt, step_max))
        history[-1].update(upper=upper, gap=(upper - lower) / max(upper, 1e-12))
    return SolveResult(
        proportions=alpha,
        objective=float(lower),
        upper_bound=float(upper),
        rounds=len(history) - 1,
        constraints=lp.rows,
        stop_reason=reason,
        seconds=time.perf_counter() - t0,
        seconds_violations=t_viol,
        seconds_lp=t_lp,
        gap=history[-1]["gap"],
        max_rel_violation=history[-1]["max_rel_violation"],
        rows_dropped=lp.dropped,
        simplex_iterations=lp.iterations,
        unexplained_steps=int(unexplained.sum()),
        slack_unexplained_steps=float(vt[unexplained].sum()),
        slack_other_steps=float(vt[~unexplained].sum()),
        slack_pairs=float(vp.sum()),
        unexplained_first=np.flatnonzero(unexplained)[:20].tolist(),
        history=history,
    )


def _moved(history: list[dict], alpha: np.ndarray, patience: int) -> float:
    """Largest change of any proportion across the last `patience` rounds (inf if fewer)."""
    if len(history) < patience:
        return float("inf")
    past = np.array([h["alpha"] for h in history[-patience:]])
    return float(np.abs(past - alpha).max())


def _drift(history: list[dict], alpha: np.ndarray, patience: int) -> float:
    """Largest change of any proportion between the means of the last two windows of
    `patience` rounds (this round included; inf if fewer rounds)."""
    if len(history) < 2 * patience - 1:
        return float("inf")
    past = np.array([h["alpha"] for h in history[-(2 * patience - 1) :]] + [alpha.tolist()])
    return float(np.abs(past[patience:].mean(0) - past[:patience].mean(0)).max())


def _select(cand, steps, viol, per_step: int, per_round: int) -> np.ndarray:
    """The most violated candidates, at most per_step per step and per_round in all."""
    order = np.lexsort((-viol, steps))
    s = steps[order]
    first = np.r_[True, s[1:] != s[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(s)), 0))
    keep = order[(np.arange(len(s)) - start) < per_step]
    if len(keep) > per_round:
        keep = keep[np.argsort(-viol[keep], kind="stable")[:per_round]]
    return cand[keep]
