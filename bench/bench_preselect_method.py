"""Does PreSelect work? The offline proof with the built-in char-LM family.

Reads ../shared/corpora/english (real text; benchmarks only, never tests). For each
target tier T ("the downstream benchmark") and seed:

1. Documents are cut into ~2,000-character chunks at line breaks. T's documents are split
   (by document, before chunking) into a benchmark set, a held-out evaluation set and a
   share that joins the pool; the pool is every other tier plus that share.
2. The model family is trained on a random half of the pool ("family data"): by default
   8 order-5 char LMs, each on a random (Dirichlet) mixture of the pool's sources
   (`--mixtures 0`: instead orders 1-6 x training sizes 0.25/1, `--orders`, `--sizes`);
   each member's benchmark score is minus its BPC on T's benchmark set.
3. Losses of every member on the other half of the pool (the seed set) give S per
   chunk; positives S = 1 (or the top 10% by S when fewer, `--positive-fraction`),
   negatives as many chunks sampled from the rest (`--negatives lowest`: PreSelect's
   lowest-S rule); fastText (PreSelect's settings) is trained on them.
4. The scorer scores the whole pool; the top 10% of characters are selected.
5. A fresh order-5 char LM is trained on the selection, and one on a random 10% of the
   pool's characters; both are evaluated (BPC) on T's held-out evaluation set.

Usage: python bench/bench_preselect_method.py [--targets bible docs-rst] [--seeds 0 1 2]
       [--mixtures 8 | --mixtures 0 --orders 1,2,3,4,5,6 --sizes 0.25,1] [--positive-fraction 0.1]
       [--negatives random|lowest] [--epoch 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from thresher.scorers.charlm import (
    CharNgramLM,
    benchmark_scores,
    train_family,
    train_mixture_family,
)
from thresher.scorers.fasttext_scorer import FastTextScorer
from thresher.scorers.predictive_strength import choose_labels, concordant_pairs, order_models
from thresher.scorers.scorer_training import POSITIVE_LABEL, TrainSettings, train_fasttext

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "english"
TIERS = ("bible", "changelogs", "docs-rst", "mail-ham", "mail-spam")


def chunks(text: str, size: int = 2000) -> list[str]:
    out, cur = [], ""
    for line in text.splitlines(keepends=True):
        if cur and len(cur) + len(line) > size:
            out.append(cur)
            cur = ""
        cur += line
        while len(cur) > 2 * size:  # a single huge line
            out.append(cur[:size])
            cur = cur[size:]
    if cur.strip():
        out.append(cur)
    return out


def load() -> dict[str, list[str]]:
    if not CORPUS.is_dir():
        sys.exit(f"this benchmark needs {CORPUS} (the shared development corpora)")
    docs = {}
    for tier in TIERS:
        with gzip.open(CORPUS / f"{tier}.jsonl.gz", "rt") as f:
            docs[tier] = [json.loads(line)["text"] for line in f]
    return docs


def top_chars(scores: np.ndarray, lengths: np.ndarray, fraction: float, order=None) -> np.ndarray:
    """Indices kept by walking down `order` (default: scores descending) until the
    running sum of characters passes `fraction` of all characters."""
    order = np.argsort(-scores, kind="stable") if order is None else order
    before = np.cumsum(lengths[order]) - lengths[order]
    return order[before < fraction * lengths.sum()]


def experiment(
    docs: dict,
    target: str,
    seed: int,
    settings: TrainSettings,
    orders=(1, 2, 3, 4, 5, 6),
    sizes=(0.25, 1.0),
    positive_fraction=None,
    mixtures=0,
    negatives="lowest",
) -> dict:
    rng = np.random.default_rng(seed)
    tdocs = docs[target]
    perm = rng.permutation(len(tdocs))
    n3 = len(tdocs) // 3
    bench = [c for i in perm[:n3] for c in chunks(tdocs[i])]
    evals = [c for i in perm[n3 : 2 * n3] for c in chunks(tdocs[i])]
    pool, source = [], []
    for tier in TIERS:
        kept = [tdocs[i] for i in perm[2 * n3 :]] if tier == target else docs[tier]
        for d in kept:
            for c in chunks(d):
                pool.append(c)
                source.append(tier)
    source = np.array(source)
    lengths = np.array([len(c) for c in pool])
    half = rng.permutation(len(pool))
    family_idx, seed_idx = half[: len(pool) // 2], np.sort(half[len(pool) // 2 :])

    t0 = time.time()
    if mixtures:
        family = train_mixture_family(
            [pool[i] for i in family_idx], source[family_idx].tolist(), members=mixtures, seed=seed
        )
    else:
        family = train_family([pool[i] for i in family_idx], orders=orders, sizes=sizes, seed=seed)
    bench_scores = benchmark_scores(family, bench)
    models = order_models(bench_scores)
    by_name = {m.name: m for m in family}
    seed_texts = [pool[i] for i in seed_idx]
    matrix = np.stack([by_name[m].doc_nll(seed_texts) for m in models], axis=1)
    conc = concordant_pairs(matrix)
    pos, neg, _ = choose_labels(
        [str(i) for i in seed_idx],
        conc,
        len(models),
        positive_fraction,
        seed=seed,
        negatives=negatives,
    )
    model, report = train_fasttext(
        [seed_texts[i] for i in pos], [seed_texts[i] for i in neg], settings
    )
    scores = FastTextScorer.from_model(model, POSITIVE_LABEL).score_batch(pool)
    selected = top_chars(scores, lengths, 0.10)
    random_sel = top_chars(scores, lengths, 0.10, order=rng.permutation(len(pool)))
    loop_s = time.time() - t0

    def fresh_bpc(idx):
        return CharNgramLM(order=5).fit([pool[i] for i in idx]).bpc(evals)

    pos_sources = source[seed_idx[pos]]
    return {
        "target": target,
        "seed": seed,
        "pool_chunks": len(pool),
        "pool_target_share": round(float(lengths[source == target].sum() / lengths.sum()), 3),
        "positives": len(pos),
        "pos_from_target": round(float(np.mean(pos_sources == target)), 3),
        "valid_auc": report.get("roc_auc"),
        "sel_from_target": round(
            float(lengths[selected][source[selected] == target].sum() / lengths[selected].sum()), 3
        ),
        "sel_top_other": _top_other(source[selected], lengths[selected], target),
        "bpc_preselect": round(fresh_bpc(selected), 4),
        "bpc_random": round(fresh_bpc(random_sel), 4),
        "loop_s": round(loop_s, 1),
    }


def _top_other(sources: np.ndarray, lengths: np.ndarray, target: str) -> str:
    """The largest non-target source in a selection, with its share of characters."""
    shares = {s: lengths[sources == s].sum() / lengths.sum() for s in set(sources) if s != target}
    if not shares:
        return "-"
    best = max(shares, key=shares.get)
    return f"{best} {shares[best]:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="+", default=["bible", "docs-rst"], choices=TIERS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--orders", default="1,2,3,4,5,6", help="family orders")
    ap.add_argument("--sizes", default="0.25,1", help="family training fractions")
    ap.add_argument(
        "--positive-fraction",
        type=float,
        default=0.1,
        help="positives: S = 1, or the top F by S when fewer (0: S = 1 only)",
    )
    ap.add_argument(
        "--mixtures",
        type=int,
        default=8,
        help="family: N order-5 members on random source mixtures (0: orders x sizes)",
    )
    ap.add_argument("--epoch", type=int, default=3, help="fastText epochs (PreSelect: 3)")
    ap.add_argument(
        "--negatives",
        choices=["lowest", "random"],
        default="random",
        help="negatives: a random sample of the non-positives (default here) or "
        "the lowest S (PreSelect's rule)",
    )
    args = ap.parse_args()
    family = {
        "orders": [int(x) for x in args.orders.split(",")],
        "sizes": [float(x) for x in args.sizes.split(",")],
        "positive_fraction": args.positive_fraction or None,
        "mixtures": args.mixtures,
        "negatives": args.negatives,
    }
    docs = load()
    # PreSelect's lr / wordNgrams (and epoch unless overridden); a smaller table for speed
    settings = TrainSettings(bucket=200_000, dim=50, thread=1, epoch=args.epoch)
    rows = [
        experiment(docs, t, s, settings.model_copy(update={"seed": s}), **family)
        for t in args.targets
        for s in args.seeds
    ]
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    for t in args.targets:
        mine = [r for r in rows if r["target"] == t]
        p = np.mean([r["bpc_preselect"] for r in mine])
        q = np.mean([r["bpc_random"] for r in mine])
        wins = sum(r["bpc_preselect"] < r["bpc_random"] for r in mine)
        print(
            f"{t}: mean BPC PreSelect {p:.4f} vs random {q:.4f} "
            f"({(q - p) / q:+.1%} lower), PreSelect better in {wins}/{len(mine)} seeds"
        )


if __name__ == "__main__":
    main()
