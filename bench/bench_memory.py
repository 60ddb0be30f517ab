"""Peak memory of `thresher dedup` (ingest + exact + near dedup) at 100k documents, with a
bound that fails loudly.

    python bench/bench_memory.py [--repeat 5] [--bound-mb 3000] [--docs N]

Reads ../shared/corpora/bench-100k (100,000 real documents with planted duplicates) when
present, else generates --docs documents from bench/common.py's text. Each repeat is a
fresh `thresher dedup` process; the whole process tree's RSS is sampled every 0.1 s and
the run is killed at --kill-mb. Near dedup on this corpus used to grow without bound
(1 run in 2-8 reached 6-24 GB: Beam's in-process runner materialising a
CombineGlobally(ToList) of cluster tables as a side input); this benchmark keeps it fixed.
Exits 1 when any repeat fails or peaks above --bound-mb. The peer figure is datatrove's
4-stage MinHash dedup pipeline's peak at 100k documents (shared/docs/peer-baseline.md,
4.8 GB, measured on this kind of machine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import SHARED, make_corpus  # noqa: E402

DATATROVE_PEAK_MB_100K = 4800  # shared/docs/peer-baseline.md


def tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a child that just exited
            total += p.memory_info().rss
    return total / 2**20


def run_once(inputs: list[str], out: Path, kill_mb: float) -> dict:
    cmd = [sys.executable, "-m", "thresher.flows.cli", "dedup", "--out", str(out)]
    for path in inputs:
        cmd += ["--input", path]
    started = time.time()
    # its own session, so a kill takes Prefect's temporary API server with it
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    ps, peak, killed = psutil.Process(proc.pid), 0.0, False
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(ps))
        if peak > kill_mb:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.1)
    _, err = proc.communicate()
    seconds = time.time() - started
    result = {"rc": proc.returncode, "seconds": seconds, "peak_mb": peak, "killed": killed}
    if proc.returncode == 0:
        run_dir = next((out / "runs").iterdir())
        stats = {p.stem: json.loads(p.read_text()) for p in (run_dir / "stats").glob("*.json")}
        result.update(
            docs=stats["ingest"]["in"],
            kept=stats["near_dedup"]["kept"],
            near_seconds=stats["near_dedup"]["seconds"],
        )
    else:
        result["error"] = err.strip().splitlines()[-1:] if err.strip() else ["(no output)"]
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bound-mb", type=float, default=3000)
    ap.add_argument("--kill-mb", type=float, default=8000)
    ap.add_argument(
        "--docs", type=int, default=100_000, help="generated corpus size (no ../shared)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="thresher-mem-") as tmp:
        corpus = SHARED / "bench-100k"
        if corpus.is_dir():
            inputs = [str(p) for p in sorted(corpus.glob("*.jsonl.gz"))]
        else:
            inputs, _ = make_corpus(Path(tmp) / "corpus", args.docs)
        mb = sum(Path(p).stat().st_size for p in inputs) / 2**20
        print(
            f"input: {len(inputs)} files, {mb:.0f} MB compressed ({corpus if corpus.is_dir() else 'generated'})"
        )
        print(
            "| try | rc | seconds | docs/s | MB/s (compressed) | near dedup s | kept | peak RSS MB | vs datatrove 100k peak |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        failures = 0
        for i in range(args.repeat):
            r = run_once(inputs, Path(tmp) / f"out-{i}", args.kill_mb)
            ok = r["rc"] == 0 and r["peak_mb"] <= args.bound_mb
            failures += not ok
            docs = r.get("docs", 0)
            print(
                f"| {i + 1} | {r['rc']}{' (killed)' if r['killed'] else ''} | {r['seconds']:.1f} | "
                f"{docs / r['seconds']:.0f} | {mb / r['seconds']:.1f} | {r.get('near_seconds', 0):.1f} | "
                f"{r.get('kept', '-')} | {r['peak_mb']:.0f} | {r['peak_mb'] / DATATROVE_PEAK_MB_100K:.2f}x |",
                flush=True,
            )
            if r["rc"] != 0:
                print(f"    error: {r['error']}", flush=True)
    if failures:
        print(
            f"FAILED: {failures} of {args.repeat} runs failed or peaked above {args.bound_mb:.0f} MB"
        )
        return 1
    print(f"OK: every run under {args.bound_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
