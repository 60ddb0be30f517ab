"""Near-dedup quality: planted near-duplicate groups + real en-US/en-GB pairs, scored
against exact Jaccard computed by brute force (sparse matrix product) on the same shingles.

    python bench/bench_near_dedup_quality.py [--docs 10000] [--verify signature|exact]

Corpus (a): base documents built from random lines of ../shared/corpora (Latin: en de fr es
mail bible docs; Cyrillic: ru; CJK: ja zh-CN; synthetic words when the folder is absent),
each with 1-3 planted copies: word (CJK: character) insert/delete/substitute at 1-15%,
truncation, boilerplate added, paragraph moves. Corpus (b): ../shared/corpora/neardup.

Metrics (threshold t): recall over true pairs with Jaccard >= t + 0.05 (same cluster);
precision over the pairs the stage asserts (removed doc, its keeper): correct when their
true Jaccard >= t - 0.05 (strict: >= t also shown); keeper correct: the planted original
survives and is the keeper of its recalled copies (priority max:quality, original = 1).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy import sparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPORA = ROOT.parent / "shared" / "corpora"
SCRIPTS = {
    "latin": [
        "languages/en",
        "languages/de",
        "languages/fr",
        "languages/es",
        "english/mail-ham",
        "english/bible",
        "english/docs-rst",
    ],
    "cyrillic": ["languages/ru"],
    "cjk": ["languages/ja", "languages/zh-CN"],
}
RATES = (0.01, 0.02, 0.05, 0.10, 0.15)
BOILERPLATE = (
    "Copyright © all rights reserved. Share this page. Subscribe to our newsletter for updates."
)


def line_pools(rng) -> dict[str, list[str]]:
    pools = {}
    for script, files in SCRIPTS.items():
        lines = []
        for f in files:
            path = CORPORA / f"{f}.jsonl.gz"
            if path.exists():
                with gzip.open(path, "rt") as fh:
                    for raw in fh:
                        text = json.loads(raw)["text"]
                        lines += [s.strip() for s in text.split("\n") if len(s.strip()) > 20]
        if not lines:  # no shared corpora: synthetic lines
            alpha = {
                "latin": "abcdefghij klmnopqrstuvwxyz",
                "cyrillic": "абвгдежзийк лмнопрстуфхцчш",
            }
            chars = alpha.get(script) or [chr(c) for c in range(0x4E00, 0x5E00)]
            lines = ["".join(rng.choice(chars) for _ in range(80)) for _ in range(20000)]
        pools[script] = sorted(set(lines))
    return pools


def base_doc(rng, pool, chars) -> str:
    out, n = [], 0
    while n < chars:
        line = rng.choice(pool)
        out.append(line)
        n += len(line)
    return "\n".join(out)


def edit(rng, text: str, script: str, kind: str, rate: float) -> str:
    if kind == "truncate":
        return text[: int(len(text) * (1 - rate * 2))]
    if kind == "boilerplate":
        return text + "\n" + BOILERPLATE * max(1, int(rate * 20))
    if kind == "move":
        paras = text.split("\n")
        for _ in range(max(1, int(len(paras) * rate))):
            paras.insert(rng.randrange(len(paras)), paras.pop(rng.randrange(len(paras))))
        return "\n".join(paras)
    units = list(text) if script == "cjk" else text.split(" ")
    for _ in range(max(1, int(len(units) * rate))):
        i, op = rng.randrange(len(units)), rng.choice(("insert", "delete", "substitute"))
        other = rng.choice(units)
        if op == "insert":
            units.insert(i, other)
        elif op == "delete" and len(units) > 1:
            units.pop(i)
        else:
            units[i] = other + ("x" if script != "cjk" else "")
    return ("" if script == "cjk" else " ").join(units)


def planted_corpus(
    n_docs: int, seed: int = 0, min_chars=1500, max_chars=3000, p_group=0.25
) -> list[dict]:
    """n_docs documents: a share p_group of originals get 1-3 planted copies."""
    rng = random.Random(seed)
    pools = line_pools(rng)
    docs = []
    g = 0
    while len(docs) < n_docs:
        script = rng.choice(["latin", "latin", "cyrillic", "cjk"])
        text = base_doc(rng, pools[script], rng.randint(min_chars, max_chars))
        gid = f"{script}-{g:06d}"
        docs.append(
            {
                "id": f"{gid}-0",
                "text": text,
                "quality": 1.0,
                "script": script,
                "group": gid,
                "kind": "original",
                "rate": 0.0,
            }
        )
        if rng.random() < p_group:
            for c in range(1, rng.randint(2, 4)):
                kind = rng.choice(["words", "words", "words", "truncate", "boilerplate", "move"])
                rate = rng.choice(RATES)
                docs.append(
                    {
                        "id": f"{gid}-{c}",
                        "text": edit(rng, text, script, kind, rate),
                        "quality": 0.5,
                        "script": script,
                        "group": gid,
                        "kind": kind,
                        "rate": rate,
                    }
                )
        g += 1
    return docs[:n_docs]


def true_pairs(texts: list[str], min_jaccard: float, spec):
    """(i, j, jaccard) for every pair with exact shingle Jaccard >= min_jaccard, i < j."""
    from thresher.scorers.minhash import shingle_hashes

    rows, cols, sizes = [], [], []
    for lo in range(0, len(texts), 2000):
        h, off = shingle_hashes(texts[lo : lo + 2000], spec)
        for d in range(len(off) - 1):
            u = np.unique(h[off[d] : off[d + 1]])
            rows.append(np.full(len(u), lo + d))
            cols.append(u)
            sizes.append(len(u))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    _, col_ids = np.unique(cols, return_inverse=True)
    x = sparse.csr_matrix(
        (np.ones(len(rows), np.int32), (rows, col_ids)), shape=(len(texts), col_ids.max() + 1)
    )
    inter = sparse.triu(x @ x.T, k=1).tocoo()
    sizes = np.asarray(sizes)
    jac = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    keep = jac >= min_jaccard
    return inter.row[keep], inter.col[keep], jac[keep]


def evaluate(ids, pairs, cluster_of: dict, keeper_pairs, threshold: float) -> dict:
    """P/R/F1. `cluster_of`: id -> cluster; `keeper_pairs`: (removed id, keeper id) list."""
    index = {d: i for i, d in enumerate(ids)}
    r, c, j = pairs
    jac = {
        (min(a, b), max(a, b)): s
        for a, b, s in zip(r.tolist(), c.tolist(), j.tolist(), strict=True)
    }
    want = [(a, b) for (a, b), s in jac.items() if s >= threshold + 0.05]
    found = [
        cluster_of.get(ids[a]) is not None and cluster_of.get(ids[a]) == cluster_of.get(ids[b])
        for a, b in want
    ]
    asserted = [
        jac.get((min(index[x], index[k]), max(index[x], index[k])), 0.0) for x, k in keeper_pairs
    ]
    p = float(np.mean([s >= threshold - 0.05 for s in asserted])) if asserted else 1.0
    strict = float(np.mean([s >= threshold for s in asserted])) if asserted else 1.0
    rec = float(np.mean(found)) if found else 1.0
    f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
    return {
        "pairs": len(want),
        "asserted": len(asserted),
        "precision": p,
        "precision_strict": strict,
        "recall": rec,
        "f1": f1,
        "_want": want,
        "_found": found,
    }


def run_thresher(docs: list[dict], work: Path, cfg, partitions=2):
    """ingest + exact + near dedup: (near stats, cluster rows, seconds, ids after exact dedup)."""
    from thresher.pipelines import exact_dedup, ingest, near_dedup
    from thresher.pipelines.docsets import DocSet
    from thresher.pipelines.stage import StageContext

    src = work / "input.jsonl"
    with open(src, "w") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    ctx = StageContext(run_dir=work / "run", partitions=partitions)
    ingest.run(ctx.with_inputs([str(src)]), ingest.IngestConfig())
    exact_dedup.run(ctx, exact_dedup.ExactDedupConfig(), ingest.DOCS_OUT, ingest.STAGE)
    t = time.perf_counter()
    survivors = exact_dedup.surviving(DocSet(ingest.DOCS_OUT))
    stats = near_dedup.run(ctx, cfg, survivors, exact_dedup.STAGE)
    seconds = time.perf_counter() - t
    seen = set(survivors.read(ctx.run_dir, ["id"])["id"].to_pylist())
    clusters = pq.read_table(ctx.run_dir / near_dedup.CLUSTERS_OUT).to_pylist()
    return stats, clusters, seconds, seen


def table(rows: list[dict], cols: list[str]) -> str:
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def score_run(docs, clusters, threshold, spec, min_j=None):
    ids = [d["id"] for d in docs]
    pairs = true_pairs([d["text"] for d in docs], (min_j or threshold) - 0.05, spec)
    cluster_of = {r["id"]: r["cluster_id"] for r in clusters}
    keeper_pairs = [(r["id"], r["cluster_id"]) for r in clusters if not r["kept"]]
    return ids, pairs, cluster_of, keeper_pairs


def breakdown(docs, clusters, threshold, spec) -> list[dict]:
    ids, pairs, cluster_of, keeper_pairs = score_run(docs, clusters, threshold, spec)
    meta = {d["id"]: d for d in docs}
    total = evaluate(ids, pairs, cluster_of, keeper_pairs, threshold)
    rows = [{"slice": "all", **{k: v for k, v in total.items() if not k.startswith("_")}}]
    # recall per slice: the copy's script / edit kind and rate (pairs of two copies: larger rate)
    slices = defaultdict(list)
    for (a, b), ok in zip(total["_want"], total["_found"], strict=True):
        da, db = meta[ids[a]], meta[ids[b]]
        copy = max((da, db), key=lambda d: d["rate"])
        same_group = da["group"] == db["group"]
        slices[f"script={da['script']}"].append(ok)
        slices[f"rate={copy['rate']:.2f}" if same_group else "natural (unplanted)"].append(ok)
        if same_group:
            slices[f"edit={copy['kind']}"].append(ok)
    prec_by = defaultdict(list)
    j_of = {(min(a, b), max(a, b)): s for a, b, s in zip(*[x.tolist() for x in pairs], strict=True)}
    index = {d: i for i, d in enumerate(ids)}
    for x, k in keeper_pairs:
        s = j_of.get((min(index[x], index[k]), max(index[x], index[k])), 0.0)
        prec_by[f"script={meta[x]['script']}"].append(s >= threshold - 0.05)
    for name in sorted(slices):
        p = float(np.mean(prec_by[name])) if prec_by.get(name) else None
        rows.append(
            {
                "slice": name,
                "pairs": len(slices[name]),
                "recall": float(np.mean(slices[name])),
                **({"precision": p, "asserted": len(prec_by[name])} if p is not None else {}),
            }
        )
    # keeper: the original survives and keeps every copy recalled with it
    groups = defaultdict(list)
    for r in clusters:
        groups[meta[r["id"]]["group"]].append(r)
    ok = [
        all(r["cluster_id"] == f"{g}-0" for r in rs if r["cluster_id"].startswith(g))
        and not any(r["id"] == f"{g}-0" and not r["kept"] for r in rs)
        for g, rs in groups.items()
    ]
    if any(d["kind"] == "original" for d in docs):
        rows[0]["keeper_correct"] = float(np.mean(ok)) if ok else 1.0
    return rows


def neardup_docs() -> list[dict]:
    path = CORPORA / "neardup" / "lohelp-en-pairs.jsonl.gz"
    if not path.exists():
        return []
    with gzip.open(path, "rt") as fh:
        docs = [json.loads(line) for line in fh]
    for d in docs:
        d.update(script="latin", kind="real", rate=0.0, quality=1.0, group=str(d["group"]))
    return docs


def main() -> None:
    from thresher.pipelines.near_dedup import NearDedupConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--verify", default="signature", choices=["signature", "exact", "none"])
    ap.add_argument("--threshold", type=float, default=0.8)
    args = ap.parse_args()
    cfg = NearDedupConfig(threshold=args.threshold, verify=args.verify, keep="max:quality")
    spec = cfg.spec()
    b, r = cfg.band_rows()
    print(
        f"# near-dedup quality: threshold {cfg.threshold}, {cfg.num_perm} perms, {b}x{r}, "
        f"{cfg.unit} {cfg.ngram}-grams, verify={cfg.verify}; shared corpora: {CORPORA.exists()}\n"
    )
    cols = [
        "slice",
        "pairs",
        "asserted",
        "precision",
        "precision_strict",
        "recall",
        "f1",
        "keeper_correct",
    ]
    for name, docs in (("planted", planted_corpus(args.docs)), ("neardup (real)", neardup_docs())):
        if not docs:
            print(f"## {name}: corpus absent, skipped\n")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            _, clusters, secs, seen = run_thresher(docs, Path(tmp), cfg)
        # documents exact dedup removed never reach near dedup: score what it saw
        docs_seen = [d for d in docs if d["id"] in seen]
        t0 = time.perf_counter()
        rows = breakdown(docs_seen, clusters, cfg.threshold, spec)
        print(
            f"## {name}: {len(docs)} docs, {len(docs_seen)} after exact dedup, {len(clusters)} clustered, "
            f"stage {secs:.1f} s, ground truth {time.perf_counter() - t0:.1f} s\n"
        )
        print(table(rows, cols) + "\n")


if __name__ == "__main__":
    main()
