"""Cost of a collection batch as the collection grows: 10 nightly batches of 10k documents.

    python bench/bench_collections.py [--batches 10] [--per-batch 10000] [--out DIR]

Splits ../shared/corpora/bench-100k (real documents with planted duplicates; generated text
from bench/common.py when it is absent) into drops of --per-batch documents, and runs
`thresher dedup --collection bench` once per drop, each a fresh process, as a nightly
schedule would. Per batch: wall seconds, the dedup stages' seconds, peak RSS of the process
tree, documents in / kept / removed as duplicates of earlier batches, and the collection's
index size on disk. Then the same documents in one run (no collection): its kept count next
to the batches' total (they differ only by the keeper rule and LSH's own misses), and
`thresher dedup` of the last drop alone, the cost a batch would have with no collection
(the ratio column). The per-batch cost should follow the batch, not the collection: the
last batch's seconds and memory close to the first's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_memory import tree_rss_mb  # noqa: E402
from common import SHARED, make_corpus, run_thresher  # noqa: E402

STAGES = ("ingest", "exact_dedup", "near_dedup")


def documents(n: int, scratch: Path) -> list[bytes]:
    """n JSONL lines: bench-100k's, or generated ones."""
    corpus = SHARED / "bench-100k"
    files = sorted(corpus.glob("bench_*.jsonl.gz")) if corpus.is_dir() else []
    if not files:
        files = [Path(p) for p in make_corpus(scratch / "generated", n)[0]]
    lines: list[bytes] = []
    for f in files:
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rb") as fh:
            lines += [line for line in fh if line.strip()]
        if len(lines) >= n:
            break
    return lines[:n]


def write_drops(lines: list[bytes], per_batch: int, folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    drops = []
    for b in range(0, len(lines), per_batch):
        path = folder / f"drop-{b // per_batch:03d}.jsonl.gz"
        path.write_bytes(gzip.compress(b"".join(lines[b : b + per_batch]), compresslevel=1))
        drops.append(path)
    return drops


def run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB of the process tree) of one `thresher` command."""
    peak = 0.0

    def sample(pid: int) -> None:
        nonlocal peak
        peak = max(peak, tree_rss_mb(psutil.Process(pid)))

    return run_thresher(args, sample), peak


def stage_seconds(run_dir: Path) -> dict[str, float]:
    return {s: json.loads((run_dir / "stats" / f"{s}.json").read_text())["seconds"] for s in STAGES}


def index_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in (out / "collections" / "bench" / "index").rglob("*"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--per-batch", type=int, default=10_000)
    ap.add_argument("--out", type=Path, help="keep outputs here (default: a temporary folder)")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = a.out or Path(tmp)
        lines = documents(a.batches * a.per_batch, root)
        drops = write_drops(lines, a.per_batch, root / "drops")
        out, landing = root / "out", root / "landing"
        landing.mkdir()
        rows = []
        for k, drop in enumerate(drops, 1):
            os.link(drop, landing / drop.name)  # tonight's drop arrives
            wall, peak = run(
                ["dedup", "--collection", "bench", "--input", str(landing), "--out", str(out)]
            )
            run_dir = out / "runs" / f"bench-b{k:05d}"
            near = json.loads((run_dir / "stats" / "near_dedup.json").read_text())
            exact = json.loads((run_dir / "stats" / "exact_dedup.json").read_text())
            ingest = json.loads((run_dir / "stats" / "ingest.json").read_text())
            rows.append(
                {
                    "batch": k,
                    "wall": wall,
                    "stages": sum(stage_seconds(run_dir).values()),
                    "near": near["seconds"],
                    "peak": peak,
                    "in": ingest["in"],
                    "kept": near["kept"],
                    "exact": exact["dropped"].get("exact_duplicate", 0),
                    "near_removed": near["dropped"].get("near_duplicate", 0),
                    "index": index_bytes(out),
                }
            )
            r = rows[-1]
            print(
                f"batch {k}: {r['wall']:.1f} s wall, stages {r['stages']:.1f} s, "
                f"peak {r['peak']:.0f} MB, kept {r['kept']}, index {r['index'] / 2**20:.1f} MB",
                flush=True,
            )
        alone_wall, alone_peak = run(
            ["dedup", "--run-id", "alone", "--input", str(drops[-1]), "--out", str(out)]
        )
        alone = sum(stage_seconds(out / "runs" / "alone").values())
        once_wall, once_peak = run(
            ["dedup", "--run-id", "oneshot", "--input", str(root / "drops"), "--out", str(out)]
        )
        oneshot = json.loads((out / "runs" / "oneshot" / "stats" / "near_dedup.json").read_text())

    load = os.getloadavg()
    print()
    print(
        f"## {a.batches} batches of {a.per_batch:,} documents "
        f"({'bench-100k' if (SHARED / 'bench-100k').is_dir() else 'generated'})"
    )
    print()
    print(
        "| batch | wall s | dedup stages s | near dedup s | vs. batch alone | peak RSS MB | "
        "docs in | exact removed | near removed | kept | index MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['batch']} | {r['wall']:.1f} | {r['stages']:.1f} | {r['near']:.1f} | "
            f"{r['stages'] / alone:.2f}x | {r['peak']:.0f} | {r['in']:,} | {r['exact']:,} | "
            f"{r['near_removed']:,} | {r['kept']:,} | {r['index'] / 2**20:.1f} |"
        )
    first, last = rows[0], rows[-1]
    print()
    print(
        f"- last drop alone (no collection): {alone:.1f} s in the dedup stages "
        f"({alone_wall:.1f} s wall), peak {alone_peak:.0f} MB"
    )
    print(
        f"- batch {last['batch']} vs batch 1: stages {last['stages'] / first['stages']:.2f}x, "
        f"peak memory {last['peak'] / first['peak']:.2f}x"
    )
    total = sum(r["kept"] for r in rows)
    print(
        f"- kept by the {len(rows)} batches: {total:,}; by one run over all of them: "
        f"{oneshot['kept']:,} ({(total - oneshot['kept']) / oneshot['kept']:+.2%}); the one run "
        f"took {once_wall:.1f} s wall, peak {once_peak:.0f} MB"
    )
    print(f"- index on disk after {len(rows)} batches: {last['index'] / 2**20:.1f} MB")
    print(f"- load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
