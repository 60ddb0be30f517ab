"""Near-dedup speed and quality side by side: thresher vs datatrove's 4-stage MinHash dedup.

    python bench/bench_near_dedup_speed.py [--docs 100000] [--beam-workers 1,2]
    python bench/bench_near_dedup_speed.py --memory-scaling 10000,100000,300000

One corpus (2-4 KB documents from ../shared/corpora lines, ~10% planted near copies at
1-15% edits, 5% exact copies), written as two .jsonl.gz files. Each side runs in its own
process; peak RSS is the whole process tree, sampled every 0.1 s.
- thresher: ingest + exact dedup + near dedup (Beam in-process runner); the near-dedup
  stage's own time is reported too.
- datatrove 0.10.1 (installed by this script into bench/.venv-datatrove, gitignored):
  MinhashDedupSignature -> Buckets -> Cluster -> Filter, default MinhashConfig
  (14 x 8, word 5-grams, spaCy English tokenizer), 2 tasks on 2 workers.
Quality for both: the metrics of bench_near_dedup_quality.py (exact 5-gram Jaccard truth).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from common import measure_tree

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
VENV = HERE / ".venv-datatrove"
DT_PACKAGES = ["datatrove[processing]==0.10.1", "spacy>=3.8,<3.9", "orjson>=3.10,<4"]

DATATROVE_SCRIPT = r"""
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
    MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
def main(inp, work):
    cfg = MinhashConfig()

    def run(pipeline, tasks, name):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=2,
                              logging_dir=f"{work}/logs/{name}").run()

    run([JsonlReader(inp), MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)], 2, "s1")
    run([MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets",
         config=cfg)], cfg.num_buckets, "s2")
    run([MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove",
         config=cfg, save_cluster_id=True)], 1, "s3")
    run([JsonlReader(inp), MinhashDedupFilter(input_folder=f"{work}/remove", load_cluster_ids=True,
         exclusion_writer=JsonlWriter(f"{work}/removed")), JsonlWriter(f"{work}/kept")], 2, "s4")


if __name__ == "__main__":  # datatrove's executor starts worker processes
    main(sys.argv[1], sys.argv[2])
"""


def ensure_datatrove() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import datatrove, spacy, orjson"], capture_output=True
    )
    if probe.returncode:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *DT_PACKAGES], check=True)
    return python


def make_corpus(n_docs: int, out: Path) -> list[dict]:
    from bench_near_dedup_quality import planted_corpus

    docs = planted_corpus(int(n_docs * 0.95), seed=1, min_chars=2000, max_chars=4000, p_group=0.06)
    rng = random.Random(2)
    for i, d in enumerate(rng.sample(docs, n_docs - len(docs))):
        docs.append({**d, "id": f"{d['id']}-exact{i}", "kind": "exact", "quality": 0.5})
    rng.shuffle(docs)
    out.mkdir(parents=True, exist_ok=True)
    for k in range(2):
        with gzip.open(out / f"part{k}.jsonl.gz", "wt", compresslevel=1) as f:
            for d in docs[k::2]:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return docs


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS of the process tree in MB, stdout) of a command."""
    secs, peak, out = measure_tree(cmd, pss=False)
    return secs, peak["rss"], out


class TreeSampler:
    """Samples RSS of this process and its children (Beam workers) every 0.1 s."""

    def __init__(self):
        self.proc, self.samples, self.stop = psutil.Process(), [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                rss = sum(
                    q.memory_info().rss for q in [self.proc, *self.proc.children(recursive=True)]
                )
                self.samples.append((time.perf_counter(), rss))
            except psutil.Error:
                pass
            time.sleep(0.1)

    def peak_mb(self, t0: float, t1: float) -> float:
        return max((r for t, r in self.samples if t0 <= t <= t1), default=0) / 2**20


def _bytes_under(path: str) -> int:
    p = Path(path)
    return (
        sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        if p.is_dir()
        else p.stat().st_size
    )


def thresher_side(inp: str, work: str, beam_workers: int) -> None:
    from thresher.pipelines import exact_dedup, ingest, near_dedup
    from thresher.pipelines.docsets import DocSet
    from thresher.pipelines.near_dedup import NearDedupConfig
    from thresher.pipelines.stage import StageContext, default_partitions

    sampler = TreeSampler()
    args = (
        []
        if beam_workers == 1
        else [f"--direct_num_workers={beam_workers}", "--direct_running_mode=multi_processing"]
    )
    # partitions as `thresher run` picks them: from the input size (32 MB of input each)
    ctx = StageContext(
        run_dir=Path(work) / "run", partitions=default_partitions(_bytes_under(inp)), beam_args=args
    )
    t0 = time.perf_counter()
    ingest.run(ctx.with_inputs([inp]), ingest.IngestConfig())
    exact_dedup.run(ctx, exact_dedup.ExactDedupConfig(), ingest.DOCS_OUT, ingest.STAGE)
    t = time.perf_counter()
    near_dedup.run(
        ctx, NearDedupConfig(), exact_dedup.surviving(DocSet(ingest.DOCS_OUT)), exact_dedup.STAGE
    )
    t1 = time.perf_counter()
    time.sleep(0.2)
    print(
        json.dumps(
            {
                "near_seconds": t1 - t,
                "near_peak_mb": sampler.peak_mb(t, t1),
                "before_near_peak_mb": sampler.peak_mb(t0, t),
            }
        )
    )


def thresher_clusters(work: Path) -> tuple[dict, list]:
    import pyarrow.parquet as pq

    run = work / "run"
    near = pq.read_table(run / "dedup" / "clusters.parquet").to_pylist()
    cluster_of = {r["id"]: r["cluster_id"] for r in near}
    pairs = [(r["id"], r["cluster_id"]) for r in near if not r["kept"]]
    exact = pq.read_table(run / "dedup" / "exact").to_pylist()
    for r in exact:  # exact copies join their kept document's cluster
        keeper = cluster_of.setdefault(r["kept_id"], r["kept_id"])
        cluster_of[r["id"]] = keeper
        pairs.append((r["id"], keeper))
    return cluster_of, pairs


def datatrove_clusters(work: Path) -> tuple[dict, list]:
    def rows(sub):
        for f in sorted((work / sub).glob("*.jsonl.gz")):
            with gzip.open(f, "rt") as fh:
                yield from (json.loads(line) for line in fh)

    cluster_of, keeper_of = {}, {}
    for d in rows("kept"):
        c = d["metadata"].get("minhash_cluster_id", -1)
        if c != -1:
            cluster_of[d["id"]] = c
            keeper_of[c] = d["id"]
    pairs = []
    for d in rows("removed"):
        c = d["metadata"]["minhash_cluster_id"]
        cluster_of[d["id"]] = c
        pairs.append((d["id"], keeper_of[c]))
    return cluster_of, pairs


def pair_truth(docs: list[dict], extra_pairs, spec, min_jaccard: float):
    """Exact Jaccard for candidate pairs only: all pairs inside a planted group (originals,
    edited and exact copies) plus every (removed, keeper) pair any pipeline asserted.
    Used above BRUTE_MAX docs, where the all-pairs product is too dense (the line pools are
    small, so most documents share some shingles). Same (rows, cols, jaccard) as true_pairs."""
    import numpy as np

    from thresher.scorers.minhash import shingle_hashes

    index = {d["id"]: i for i, d in enumerate(docs)}
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        groups.setdefault(d["group"], []).append(i)
    cand = {(a, b) for g in groups.values() if len(g) > 1 for a in g for b in g if a < b}
    for x, k in extra_pairs:
        a, b = index[x], index[k]
        if a != b:
            cand.add((min(a, b), max(a, b)))
    need = sorted({i for p in cand for i in p})
    sets = {}
    for lo in range(0, len(need), 2000):
        chunk = need[lo : lo + 2000]
        h, off = shingle_hashes([docs[i]["text"] for i in chunk], spec)
        for k, i in enumerate(chunk):
            sets[i] = np.unique(h[off[k] : off[k + 1]])
    rows, cols, jac = [], [], []
    for a, b in sorted(cand):
        inter = len(np.intersect1d(sets[a], sets[b], assume_unique=True))
        union = len(sets[a]) + len(sets[b]) - inter
        j = inter / union if union else 1.0
        if j >= min_jaccard:
            rows.append(a), cols.append(b), jac.append(j)
    return np.array(rows, np.int64), np.array(cols, np.int64), np.array(jac)


BRUTE_MAX = 20_000
STAGE_NEAR = "near_dedup"


def thresher_cmd(root: Path, tag: str, workers: int) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--side",
        "thresher",
        "--input",
        str(root / "input"),
        "--work",
        str(root / f"thresher-{tag}"),
        "--beam-workers",
        str(workers),
    ]


def memory_scaling(sizes: list[int]) -> None:
    """Peak RSS of thresher (ingest+exact+near, one process) and of the near-dedup stage's
    window in that process, per corpus size. Each size: fresh corpus, fresh run directory."""
    rows = []
    for n in sizes:
        root = HERE / "out" / f"near_dedup_mem_{n}"
        subprocess.run(["rm", "-rf", str(root)], check=True)
        docs = make_corpus(n, root / "input")
        mb = sum(len(d["text"].encode()) for d in docs) / 1e6
        del docs
        secs, rss, out = measure(thresher_cmd(root, "1", 1))
        info = json.loads(out.strip().splitlines()[-1])
        # the near stage again in a fresh process (ingest and exact dedup skip on rerun),
        # so its peak is not mixed with heap the earlier stages left behind
        (root / "thresher-1" / "run" / "stats" / f"{STAGE_NEAR}.json").unlink()
        _, rss_near, out = measure(thresher_cmd(root, "1", 1))
        alone = json.loads(out.strip().splitlines()[-1])
        rows.append(
            {
                "docs": n,
                "MB": f"{mb:.1f}",
                "seconds (3 stages)": f"{secs:.1f}",
                "near seconds": f"{info['near_seconds']:.1f}",
                "near docs/s": round(n / info["near_seconds"]),
                "peak RSS MB ingest+exact+near (one process)": round(
                    max(rss, info["near_peak_mb"])
                ),
                "of which before near": round(info["before_near_peak_mb"]),
                "peak RSS MB near stage alone (fresh process)": round(
                    max(rss_near, alone["near_peak_mb"])
                ),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        subprocess.run(["rm", "-rf", str(root)], check=True)
    from bench_near_dedup_quality import table

    print(
        f"\n# near dedup memory scaling: partitions from input size, Beam in-process runner, 1 worker, "
        f"{psutil.cpu_count()} cores\n"
    )
    print(table(rows, list(rows[0])))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument(
        "--beam-workers", default="1", help="comma list: one thresher row each, e.g. 1,2"
    )
    ap.add_argument(
        "--memory-scaling",
        metavar="SIZES",
        help="comma list of corpus sizes (e.g. 10000,100000,300000): thresher peak RSS only",
    )
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side == "thresher":
        return thresher_side(args.input, args.work, int(args.beam_workers))
    if args.memory_scaling:
        return memory_scaling([int(x) for x in args.memory_scaling.split(",")])

    from bench_near_dedup_quality import evaluate, table, true_pairs

    from thresher.scorers.minhash import ShingleSpec

    python = ensure_datatrove()
    root = HERE / "out" / f"near_dedup_speed_{args.docs}"
    subprocess.run(["rm", "-rf", str(root)], check=True)
    docs = make_corpus(args.docs, root / "input")
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    (root / "dt_run.py").write_text(DATATROVE_SCRIPT)
    results, timings = [], {}
    for w in [int(x) for x in args.beam_workers.split(",")]:
        secs, rss, out = measure(thresher_cmd(root, str(w), w))
        info = json.loads(out.strip().splitlines()[-1])
        rss = max(rss, info["near_peak_mb"], info["before_near_peak_mb"])  # two samplers, same tree
        label = "" if w == 1 else f", {w} Beam workers (multi_processing)"
        results.append(
            (
                f"thresher (ingest+exact+near){label}",
                secs,
                rss,
                thresher_clusters(root / f"thresher-{w}"),
            )
        )
        results.append(
            (
                f"thresher near-dedup stage only{label}",
                info["near_seconds"],
                info["near_peak_mb"],
                None,
            )
        )
        timings[w] = {"seconds": secs, "peak_mb": rss, **info}
        print(json.dumps({"thresher_workers": w, **timings[w]}), flush=True)
    secs, rss, _ = measure(
        [str(python), str(root / "dt_run.py"), str(root / "input"), str(root / "dt")]
    )
    results.append(("datatrove 4-stage MinHash", secs, rss, datatrove_clusters(root / "dt")))
    print(json.dumps({"datatrove_seconds": secs, "peak_mb": rss}), flush=True)

    ids = [d["id"] for d in docs]
    if len(docs) <= BRUTE_MAX:
        truth = "brute force, all pairs"
        pairs = true_pairs([d["text"] for d in docs], 0.75, ShingleSpec())
    else:
        truth = "exact Jaccard of all planted-group pairs and all asserted pairs"
        asserted = [p for *_, c in results if c for p in c[1]]
        pairs = pair_truth(docs, asserted, ShingleSpec(), 0.75)
    dt_secs = results[-1][1]
    rows = []
    for name, s, r, clusters in results:
        row = {
            "pipeline": name,
            "seconds": f"{s:.1f}",
            "docs/s": round(len(docs) / s),
            "MB/s": f"{mb / s:.2f}",
            "peak RSS MB": round(r) if r else "",
            "speedup vs datatrove": f"{dt_secs / s:.2f}",
        }
        if clusters:
            q = evaluate(ids, pairs, clusters[0], clusters[1], 0.8)
            row.update(precision=q["precision"], recall=q["recall"], f1=q["f1"])
        rows.append(row)
    print(
        f"\n# near dedup speed: {len(docs)} docs, {mb:.1f} MB, {psutil.cpu_count()} cores; "
        f"quality truth: {truth}\n"
    )
    print(
        table(
            rows,
            [
                "pipeline",
                "seconds",
                "docs/s",
                "MB/s",
                "peak RSS MB",
                "speedup vs datatrove",
                "precision",
                "recall",
                "f1",
            ],
        )
    )


if __name__ == "__main__":
    main()
