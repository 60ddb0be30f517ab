"""Benchmark helpers: corpus generation from real text when present, timing, peak memory.

Benchmarks may read ../shared/corpora when it exists (they say so in their output);
otherwise they fall back to generated text. Tests never use this module.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def real_paragraphs() -> list[str]:
    """Paragraphs of the shared corpora (all folders), or [] when absent."""
    paras: list[str] = []
    if not SHARED.is_dir():
        return paras
    for path in sorted(SHARED.glob("*/*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            for line in f:
                text = json.loads(line)["text"]
                paras += [p for p in text.split("\n\n") if len(p) > 80]
    return paras


def _open_text(path: Path, gz: bool):
    return gzip.open(path, "wt", compresslevel=6) if gz else path.open("w")


def make_corpus(
    directory: Path, n_docs: int, files: int = 8, seed: int = 1, gz: bool = False
) -> tuple[list[str], int]:
    """N docs of ~2-4 KB assembled from real paragraphs, 5% exact copies (case/space
    variants); JSONL (gzipped with `gz`) split over `files` files.
    Returns (paths, total uncompressed bytes)."""
    rng = random.Random(seed)
    paras = real_paragraphs()
    source = "shared corpora" if paras else "generated"
    if not paras:
        words = [f"w{i}" for i in range(5000)]
        paras = [" ".join(rng.choices(words, k=rng.randint(15, 120))) for _ in range(20000)]
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".jsonl.gz" if gz else ".jsonl"
    paths = [directory / f"part-{i:03d}{suffix}" for i in range(files)]
    nbytes = 0
    docs: list[str] = []
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(_open_text(p, gz)) for p in paths]
        for i in range(n_docs):
            if docs and rng.random() < 0.05:
                text = rng.choice(docs).upper()
            else:
                target = rng.randint(2000, 4000)
                chunks, size = [], 0
                while size < target:
                    chunks.append(rng.choice(paras))
                    size += len(chunks[-1]) + 2
                text = "\n\n".join(chunks)[:target]
                if len(docs) < 5000:
                    docs.append(text)
            line = json.dumps({"id": f"doc-{i:07d}", "text": text}) + "\n"
            nbytes += len(line.encode())
            handles[i % files].write(line)
    print(f"corpus: {n_docs} docs from {source} text in {directory}", file=sys.stderr)
    return [str(p) for p in paths], nbytes


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its waited-for children, MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def run_isolated(code: str) -> dict:
    """Run a Python snippet in a fresh interpreter (own peak RSS); it prints one JSON line."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    t = time.time()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.setdefault("wall", time.time() - t)
    return result


def run_thresher(args: list[str], sample, env: dict | None = None, cwd: str | None = None) -> float:
    """Run `thresher ARGS` in a fresh process (its own session), calling `sample(pid)` every
    0.1 s while it runs; exits with the tail of its output if it fails. Returns wall seconds.
    Output goes to a file, not a pipe: a full pipe would stall the process. (`python -m` puts
    the working directory first on sys.path: run from the checkout, its `thresher/` folder
    wins over an older tree given in PYTHONPATH, so pass another `cwd` for those.)"""
    started = time.time()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "thresher.flows.cli", *args],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        while proc.poll() is None:
            sample(proc.pid)
            time.sleep(0.1)
        if proc.returncode:
            log.seek(0)
            tail = log.read()[-3000:].decode(errors="replace")
            sys.exit(f"thresher {' '.join(args)} failed:\n{tail}")
    return time.time() - started


def measure_tree(
    cmd: list[str], env: dict | None = None, cwd=None, pss: bool = True
) -> tuple[float, dict, str]:
    """(seconds, peak memory of the process tree in MB, stdout) of a command. Memory: the
    peak of the summed RSS (a page shared by forked processes counts once per process)
    and of the summed PSS (a shared page is split between them: the memory really used;
    `pss=False`: RSS only, 0 for PSS). Also the CPU seconds of the whole tree."""
    import threading

    import psutil

    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )
    peak = {"rss": 0, "pss": 0, "cpu": 0}

    def sample():
        # RSS every 0.1 s (cheap); PSS, which reads every mapping's pages (/proc/PID/smaps,
        # ~8 ms a process here, and it takes the process's memory-map lock), every 0.5 s: at
        # 0.1 s it cost the measured tree ~30% of a core and slowed its page faults
        p = psutil.Process(proc.pid)
        tick = 0
        while proc.poll() is None:
            rss = pss = 0
            with_pss = pss and tick % 5 == 0
            try:
                for q in [p, *p.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        if with_pss:
                            info = q.memory_full_info()
                            rss, pss = rss + info.rss, pss + info.pss
                        else:
                            rss += q.memory_info().rss
            except psutil.Error:
                pass
            peak["rss"] = max(peak["rss"], rss)
            if with_pss:
                peak["pss"] = max(peak["pss"], pss)
            tick += 1
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    th.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{err[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the whole tree (every waited-for descendant rolls up into its parent)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return time.perf_counter() - t, {**{k: v / 2**20 for k, v in peak.items()}, "cpu": cpu}, out
