"""Ingest + exact dedup throughput vs a plain single-process JSON read+parse of the same files.

MB are uncompressed JSONL bytes. Inputs are gzipped by default, as corpora usually are
(the baseline then includes gzip decoding too); `--plain` uses uncompressed files.

    python bench/bench_foundation.py --docs 10000 100000 [--repeat 5]

Each measurement runs in a fresh interpreter so its peak RSS is its own. The ratio column
compares the stage with the stdlib `json.loads` loop over the same files (the issue's bar:
ingest + exact dedup at >= 0.5x of it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import make_corpus, run_isolated

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from thresher.flows.render import table_text

BASELINE = """
import gzip, json, sys, time, resource
paths = {paths!r}
t = time.perf_counter(); n = 0
for p in paths:
    with (gzip.open(p, 'rb') if p.endswith('.gz') else open(p, 'rb')) as f:
        for line in f:
            json.loads(line); n += 1
dt = time.perf_counter() - t
print(json.dumps({{"docs": n, "seconds": dt, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

STAGES = """
import json, time, resource, logging
logging.disable(logging.WARNING)
from pathlib import Path
from thresher.pipelines import ingest, exact_dedup
from thresher.pipelines.stage import StageContext
ctx = StageContext(run_dir=Path({run_dir!r}), partitions={partitions}, beam_args={beam_args!r})
t = time.perf_counter()
s1 = ingest.run(ctx.with_inputs({paths!r}), ingest.IngestConfig())
t1 = time.perf_counter()
s2 = exact_dedup.run(ctx, exact_dedup.ExactDedupConfig(), ingest.DOCS_OUT, ingest.STAGE)
t2 = time.perf_counter()
print(json.dumps({{"ingest": t1 - t, "exact_dedup": t2 - t1, "docs": s1["in"], "kept": s2["kept"],
                   "rss": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024}}))
"""


def bench(
    n_docs: int, work: Path, partitions: int | None, gz: bool, worker_counts, repeat: int
) -> list[dict]:
    """One row per stage; with `repeat` > 1 every measurement runs that many times, baseline
    and stages alternating, and the rows hold medians (a shared VM is noisy: single runs
    of the same code vary by +-10%), with the spread of the per-run ratios beside them."""
    paths, nbytes = make_corpus(work / f"in-{n_docs}", n_docs, gz=gz)
    if partitions is None:
        from thresher.pipelines.stage import default_partitions

        partitions = default_partitions(sum(Path(p).stat().st_size for p in paths))
    mb = nbytes / 1e6
    runs = {"baseline": []} | {w: [] for w in worker_counts}
    for i in range(repeat):
        runs["baseline"].append(run_isolated(BASELINE.format(paths=paths)))
        for workers in worker_counts:
            beam_args = (
                []
                if workers == 1
                else [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
            )
            runs[workers].append(
                run_isolated(
                    STAGES.format(
                        paths=paths,
                        run_dir=str(work / f"run-{n_docs}-{workers}-{i}"),
                        partitions=partitions,
                        beam_args=beam_args,
                    )
                )
            )
    base = statistics.median(r["seconds"] for r in runs["baseline"])

    def row(stage, runner, seconds, rss, ratios=None):
        out = {
            "docs": n_docs,
            "input": "jsonl.gz" if gz else "jsonl",
            "stage": stage,
            "runner": runner,
            "runs": repeat,
            "MB": round(mb, 1),
            "seconds": round(seconds, 2),
            "docs/s": round(n_docs / seconds),
            "MB/s": round(mb / seconds, 1),
            "peak RSS MB": round(rss),
            "vs json.loads": round(base / seconds, 2),
        }
        if repeat > 1:
            out["range"] = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else ""
        return out

    rows = [
        row(
            "json.loads loop (baseline)",
            "1 process",
            base,
            max(r["rss"] for r in runs["baseline"]),
            [],
        )
    ]
    for workers in worker_counts:
        got = runs[workers]
        runner = "threads" if workers == 1 else f"{workers} procs"
        rss = max(g["rss"] for g in got)  # the largest single process (driver or a worker)
        for stage in ("ingest", "exact_dedup"):
            rows.append(row(stage, runner, statistics.median(g[stage] for g in got), rss, []))
        together = [g["ingest"] + g["exact_dedup"] for g in got]
        ratios = [b["seconds"] / t for b, t in zip(runs["baseline"], together, strict=True)]
        rows.append(row("ingest + exact_dedup", runner, statistics.median(together), rss, ratios))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument(
        "--partitions", type=int, help="default: the run's own rule (32 MB of input each)"
    )
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="1 = the default local runner (in-process, one thread per core); "
        "N > 1 = N Beam worker processes",
    )
    ap.add_argument("--plain", action="store_true", help="uncompressed JSONL (default: .jsonl.gz)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every measurement N times (fresh processes) and report medians",
    )
    ap.add_argument("--keep", action="store_true", help="keep the generated corpus and outputs")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="thresher-bench-"))
    try:
        rows = [
            r
            for n in args.docs
            for r in bench(n, work, args.partitions, not args.plain, args.workers, args.repeat)
        ]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(table_text(rows))
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
