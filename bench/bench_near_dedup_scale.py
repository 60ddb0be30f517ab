"""Near dedup's memory and seconds as the corpus grows: 100k / 300k / 1M documents.

    python bench/bench_near_dedup_scale.py [--sizes 100000 300000 1000000] [--old REV]

Generates each corpus once (cached under --cache): 2-4 KB documents assembled from the real
paragraphs of ../shared/corpora (generated words when absent), with duplicates planted at
about bench-100k's rate (4% exact copies with case/space changes, 8% near copies with 2-4%
of words replaced) plus a heavy tail: 20 boilerplate pages each copied N/500 times with one
word changed (clusters of 200 at 100k, 2,000 at 1M). Then runs `thresher dedup` on it in a
fresh process per size and samples the process tree's RSS every 0.1 s, attributing each
sample to the stage whose staging directory exists at that moment. With --old REV the
same runs go through that revision (a git worktree on PYTHONPATH) first, side by side.
Reports per size: each stage's peak RSS and seconds, near dedup's components rounds, and the
growth of near dedup's peak from the smallest size (the target: flat within 20%).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_memory import tree_rss_mb  # noqa: E402
from common import real_paragraphs, run_thresher  # noqa: E402

STAGES = ("ingest", "exact_dedup", "near_dedup")


def generate(n: int, folder: Path, files: int = 8, seed: int = 1) -> Path:
    """The corpus of n documents (see the module doc), written once."""
    done = folder / "done"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paras = real_paragraphs() or [
        " ".join(f"w{rng.randrange(5000)}" for _ in range(rng.randint(15, 120)))
        for _ in range(20000)
    ]
    words = [w for p in paras[:2000] for w in p.split()][:50000]

    def fresh() -> str:
        target, chunks, size = rng.randint(2000, 4000), [], 0
        while size < target:
            chunks.append(rng.choice(paras))
            size += len(chunks[-1]) + 2
        return "\n\n".join(chunks)[:target]

    def edit(text: str, share: float) -> str:
        w = text.split(" ")
        for _ in range(max(1, int(len(w) * share))):
            w[rng.randrange(len(w))] = rng.choice(words)
        return " ".join(w)

    boilerplate = [fresh() for _ in range(20)]
    step = 25  # every 25th document is a boilerplate copy: n / 500 copies of each of 20 pages
    keep = []  # earlier documents to copy
    with contextlib.ExitStack() as stack:
        handles = [
            stack.enter_context(gzip.open(folder / f"part-{i:03d}.jsonl.gz", "wt", compresslevel=1))
            for i in range(files)
        ]
        for i in range(n):
            r = rng.random()
            if i % step == 0:
                text = edit(boilerplate[rng.randrange(20)], 0.0)
            elif keep and r < 0.04:
                text = rng.choice(keep).upper()
            elif keep and r < 0.12:
                text = edit(rng.choice(keep), rng.uniform(0.02, 0.04))
            else:
                text = fresh()
                if len(keep) < 20000:
                    keep.append(text)
                elif rng.random() < 0.01:
                    keep[rng.randrange(len(keep))] = text
            line = json.dumps({"id": f"d{i:08d}", "text": text}) + "\n"
            handles[i % files].write(line)
    done.write_text(str(n))
    return folder


def staging_stage(out: Path) -> str | None:
    for d in out.glob("runs/*/.staging/*"):
        name = d.name.rsplit("-", 1)[0]
        if name in STAGES:
            return name
    return None


def run(corpus: Path, out: Path, pythonpath: str | None, part_docs: int | None = None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    peaks = dict.fromkeys(STAGES, 0.0)

    def sample(pid: int) -> None:  # each RSS sample goes to the stage running at that moment
        stage = staging_stage(out)
        if stage:
            peaks[stage] = max(peaks[stage], tree_rss_mb(psutil.Process(pid)))

    args = ["dedup", "--input", str(corpus), "--out", str(out)]
    if part_docs:  # documents parts of one size at every corpus size
        config = out / "config.json"
        config.write_text(json.dumps({"ingest": {"part_docs": part_docs}}))
        args += ["--config", str(config)]
    run_thresher(args, sample, env, cwd=tempfile.gettempdir())
    run_dir = next(out.glob("runs/*"))
    stats = {s: json.loads((run_dir / "stats" / f"{s}.json").read_text()) for s in STAGES}
    return {"peaks": peaks, "stats": stats, "digest": output_digest(run_dir)}


def output_digest(run_dir: Path) -> str:
    """sha256 over dedup/clusters.parquet and near dedup's documents parts, in name order:
    equal digests = byte-identical results."""
    h = hashlib.sha256()
    files = [run_dir / "dedup" / "clusters.parquet"]
    files += sorted((run_dir / "documents" / "stage=near_dedup").glob("*.parquet"))
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:12]


def importable_tree(worktree: Path) -> str:
    """A folder that imports as the `thresher` of `worktree`: the installed package maps
    thresher.pipelines/scorers/flows onto this checkout's folders (pyproject's package-dir),
    so PYTHONPATH=worktree alone would still run this checkout's stages."""
    src = worktree / ".bench-src" / "thresher"
    src.mkdir(parents=True, exist_ok=True)
    (src / "__init__.py").write_bytes((worktree / "thresher" / "__init__.py").read_bytes())
    for sub in ("pipelines", "scorers", "flows"):
        (src / sub).symlink_to(worktree / sub)
    return str(src.parent)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--old", help="git revision to run side by side (e.g. HEAD~3)")
    ap.add_argument(
        "--part-docs",
        type=int,
        help="ingest.part_docs for every run (default: ingest's 100k cap, so parts grow "
        "with the input files up to 1M documents)",
    )
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "thresher-scale")
    a = ap.parse_args()

    versions = [("new", None)]
    worktree = None
    if a.old:
        worktree = Path(tempfile.mkdtemp(prefix="thresher-old-"))
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-f", str(worktree), a.old],
            check=True,
            capture_output=True,
        )
        versions.insert(0, (f"old {a.old}", importable_tree(worktree)))
    rows = []
    try:
        for n in a.sizes:
            corpus = generate(n, a.cache / f"corpus-{n}")
            for label, path in versions:
                with tempfile.TemporaryDirectory(dir=a.cache) as out:
                    r = run(corpus, Path(out), path, a.part_docs)
                near = r["stats"]["near_dedup"]
                rows.append({"n": n, "version": label, **r})
                print(
                    f"{label} {n:,}: near dedup peak {r['peaks']['near_dedup']:.0f} MB, "
                    f"{near['seconds']:.1f} s, removed {near['dropped'].get('near_duplicate', 0):,}",
                    flush=True,
                )
    finally:
        if worktree:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                capture_output=True,
            )

    print()
    print("| version | documents | stage | peak RSS MB | seconds | docs/s | note |")
    print("|---|---:|---|---:|---:|---:|---|")
    for r in rows:
        for s in STAGES:
            st = r["stats"][s]
            note = ""
            if s == "near_dedup":
                note = (
                    f"candidates {st.get('candidates', 0):,}, clusters {st.get('clusters', 0):,}, "
                    f"removed {st['dropped'].get('near_duplicate', 0):,}"
                    + (
                        f", component rounds {st['component_rounds']}"
                        if "component_rounds" in st
                        else ""
                    )
                )
            print(
                f"| {r['version']} | {r['n']:,} | {s} | {r['peaks'][s]:.0f} | {st['seconds']:.1f} | "
                f"{st['in'] / max(st['seconds'], 1e-9):,.0f} | {note} |"
            )
    print()
    for label, _ in versions:
        mine = [r for r in rows if r["version"] == label]
        base = mine[0]
        for r in mine[1:]:
            print(
                f"- {label}: near dedup peak at {r['n']:,} is "
                f"{r['peaks']['near_dedup'] / base['peaks']['near_dedup']:.2f}x that at "
                f"{base['n']:,}; seconds {r['stats']['near_dedup']['seconds'] / base['stats']['near_dedup']['seconds']:.2f}x "
                f"for {r['n'] / base['n']:.0f}x the documents"
            )
    for n in a.sizes:
        digests = {r["version"]: r["digest"] for r in rows if r["n"] == n}
        same = len(set(digests.values())) == 1
        print(
            f"- {n:,}: clusters.parquet + surviving documents "
            + ("byte-identical across versions" if same else "DIFFER")
            + f" ({', '.join(f'{v} {d}' for v, d in digests.items())})"
        )
    print(f"- load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
