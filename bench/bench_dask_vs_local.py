"""`thresher dedup` on the local service topology's Dask cluster vs Beam's in-process runner.

    python bench/bench_dask_vs_local.py [--docs 300000] [--repeat 1]

Brings up `infra/local-cluster.sh` (PostgreSQL, the Prefect server on it, a Dask scheduler
and two single-threaded workers) in a temporary folder, then runs `thresher dedup` (ingest,
exact and near dedup) on the same generated corpus (bench_near_dedup_scale's generator:
planted copies and a heavy tail) once in-process and once with the DaskRunner, both
recorded by that Prefect server. Reports per run: seconds per stage, and the peak RSS of each
process (the thresher client, and for Dask each worker and the scheduler), sampled every
0.1 s. On 2 cores Dask has the same cores as the in-process runner's two threads, plus
serialisation and scheduling: the comparison shows its cost here, not a speed-up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_near_dedup_scale import STAGES, generate  # noqa: E402
from common import run_thresher  # noqa: E402

SCRIPT = ROOT / "infra" / "local-cluster.sh"


def rss_mb(pid: int) -> float:
    with contextlib.suppress(psutil.Error):
        p = psutil.Process(pid)
        return sum(q.memory_info().rss for q in [p, *p.children(recursive=True)]) / 2**20
    return 0.0


def cluster_pids(state: Path) -> dict[str, int]:
    found = {}
    for name in ("dask-scheduler", "dask-worker-1", "dask-worker-2"):
        pidfile = state / "pids" / f"{name}.pid"
        if pidfile.exists():
            found[name] = int(pidfile.read_text().split()[0])
    return found


def run(corpus: Path, out: Path, env: dict, beam: list[str], watch: dict[str, int]) -> dict:
    args = ["dedup", "--input", str(corpus), "--out", str(out), *(["--", *beam] if beam else [])]
    peaks = dict.fromkeys(["thresher", *watch], 0.0)

    def sample(pid: int) -> None:
        for name, p in {"thresher": pid, **watch}.items():
            peaks[name] = max(peaks[name], rss_mb(p))

    wall = run_thresher(args, sample, env)
    run_dir = next(out.glob("runs/*"))
    seconds = {
        s: json.loads((run_dir / "stats" / f"{s}.json").read_text())["seconds"] for s in STAGES
    }
    kept = json.loads((run_dir / "stats" / "near_dedup.json").read_text())["kept"]
    return {"wall": wall, "seconds": seconds, "peaks": peaks, "kept": kept}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=300_000)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "thresher-scale")
    a = ap.parse_args()
    corpus = generate(a.docs, a.cache / f"corpus-{a.docs}")
    state = Path(tempfile.mkdtemp(prefix="thc-", dir="/tmp"))  # short: a unix socket lives there
    state.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRESHER_")}
    env.pop("PREFECT_API_URL", None)
    env["THRESHER_PYTHON"] = sys.executable
    results = {}
    try:
        up = subprocess.run(
            ["bash", str(SCRIPT), "up", str(state)], env=env, capture_output=True, text=True
        )
        if up.returncode:
            sys.exit(f"local-cluster up failed: {up.stderr.strip()}")
        given = dict(
            line.removeprefix("export ").split("=", 1)
            for line in up.stdout.splitlines()
            if line.startswith("export ")
        )
        given = {k: v.strip("'\"") for k, v in given.items()}
        run_env = {**env, "PREFECT_API_URL": given["PREFECT_API_URL"]}
        beam = given["THRESHER_BEAM_ARGS"].split()
        results["in-process (2 threads)"] = run(corpus, state / "local", run_env, [], {})
        results["Dask (2 worker processes)"] = run(
            corpus, state / "dask", run_env, beam, cluster_pids(state)
        )
    finally:
        subprocess.run(["bash", str(SCRIPT), "down", str(state)], env=env, capture_output=True)
        shutil.rmtree(state, ignore_errors=True)

    print(f"\n## thresher dedup, {a.docs:,} documents, 2 cores\n")
    print(
        "| runner | wall s | ingest s | exact dedup s | near dedup s | kept | peak RSS MB per process |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, r in results.items():
        s = r["seconds"]
        peaks = ", ".join(f"{k} {v:.0f}" for k, v in r["peaks"].items())
        print(
            f"| {name} | {r['wall']:.0f} | {s['ingest']:.1f} | {s['exact_dedup']:.1f} | "
            f"{s['near_dedup']:.1f} | {r['kept']:,} | {peaks} |"
        )
    local, dask = results.values()
    print(f"\n- Dask / in-process wall time: {dask['wall'] / local['wall']:.2f}x")
    print(f"- load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
