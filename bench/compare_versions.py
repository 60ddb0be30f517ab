"""Per-stage seconds of two versions of Thresher on the same job, alternating runs.

    python bench/compare_versions.py --old REV [--pairs 3] [--docs N]

Checks a change for speed regressions stage by stage: `REV` is checked out into a temporary
git worktree and run from there (PYTHONPATH), the working tree is the new version. Both run
`thresher run` with near dedup, `score:` (keep_top_chars 0.5) and `shards:` on the same
corpus (../shared/corpora/bench-100k when present, else generated), with a fastText scorer
and a 8k BPE tokenizer trained once here. Runs alternate old/new so drift on a shared
machine hits both; the table gives per-stage medians and the new/old ratio with its range
over the pairs, and each version's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_memory import tree_rss_mb  # noqa: E402
from common import SHARED, make_corpus  # noqa: E402

STAGES = ("ingest", "exact_dedup", "near_dedup", "score", "shards")


def train_assets(inputs: list[str], work: Path) -> tuple[str, str]:
    """A small fastText scorer and BPE tokenizer from a sample of the corpus."""
    import gzip

    from thresher.pipelines import io
    from thresher.scorers.scorer_training import TrainSettings, train_fasttext
    from thresher.scorers.text_tokenizers import train_byte_level_bpe

    texts = []
    with gzip.open(inputs[0], "rt") as f:
        for line, _ in zip(f, range(6000), strict=False):
            texts.append(json.loads(line)["text"])
    rng = random.Random(0)
    rng.shuffle(texts)
    model, _ = train_fasttext(texts[:3000], texts[3000:], TrainSettings(dim=64, epoch=3))
    model_path = io.write_with(model.save_model, work / "scorer.bin")
    tok_path = work / "tokenizer.json"
    train_byte_level_bpe(texts, 8000).save(str(tok_path))
    return str(model_path), str(tok_path)


def run(version: str, old_tree: Path, inputs: list[str], config: Path, out: Path) -> dict:
    if version == "old":
        cmd = [sys.executable, "-m", "flows.cli", "run"]
        env = {"PYTHONPATH": str(old_tree)}
    else:
        cmd = [sys.executable, "-m", "thresher.flows.cli", "run"]
        env = {"PYTHONPATH": str(ROOT)}
    for path in inputs:
        cmd += ["--input", path]
    cmd += ["--out", str(out), "--config", str(config), "--run-id", "r"]
    started = time.time()
    # its own session: a run killed for memory takes its helpers (Prefect's temporary API
    # server) with it, or they would hold our pipes open
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **env},
        cwd=out.parent,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ps, peak = psutil.Process(proc.pid), 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(ps))
        if peak > 12_000:
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.1)
    _, err = proc.communicate()
    result = {"rc": proc.returncode, "wall": time.time() - started, "peak_mb": peak}
    if proc.returncode == 0:
        stats_dir = out / "runs" / "r" / "stats"
        for stage in STAGES:
            s = json.loads((stats_dir / f"{stage}.json").read_text())
            result[stage] = s["seconds"]
            result[f"{stage}_kept"] = s["kept"]
    else:
        result["error"] = (err.strip().splitlines() or ["?"])[-1][:200]
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="git revision of the old version")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument(
        "--docs", type=int, default=100_000, help="generated corpus size (no ../shared)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="thresher-cmp-") as tmp:
        tmp = Path(tmp)
        old_tree = tmp / "old"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old_tree), args.old],
            check=True,
        )
        try:
            corpus = SHARED / "bench-100k"
            inputs = (
                sorted(map(str, corpus.glob("*.jsonl.gz")))
                if corpus.is_dir()
                else make_corpus(tmp / "corpus", args.docs)[0]
            )
            model, tok = train_assets(inputs, tmp)
            config = tmp / "run.json"
            config.write_text(
                json.dumps(
                    {
                        "score": {
                            "model": model,
                            "positive_label": "__label__1",
                            "keep_top_chars": 0.5,
                        },
                        "shards": {"tokenizer": tok, "shard_tokens": 20_000_000},
                    }
                )
            )
            results = {"old": [], "new": []}
            for pair in range(args.pairs):
                for version in ("old", "new") if pair % 2 == 0 else ("new", "old"):
                    out = tmp / f"{version}-{pair}" / "out"
                    out.parent.mkdir()
                    r = run(version, old_tree, inputs, config, out)
                    results[version].append(r)
                    print(
                        f"pair {pair + 1} {version}: "
                        + json.dumps(
                            {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()}
                        ),
                        flush=True,
                    )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)],
                check=False,
            )
    print(
        f"\n{len(inputs)} input files; old = {args.old}, new = working tree; {args.pairs} pairs\n"
    )
    print(
        "| stage | old s (median) | new s (median) | new/old | range over pairs | kept old / new |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for stage in (*STAGES, "wall"):
        ok = [
            (o, n)
            for o, n in zip(results["old"], results["new"], strict=True)
            if o["rc"] == 0 and n["rc"] == 0
        ]
        if not ok:
            print(f"| {stage} | - | - | - | - | - |")
            continue
        olds, news = [o[stage] for o, _ in ok], [n[stage] for _, n in ok]
        ratios = [n / o for o, n in zip(olds, news, strict=True) if o]
        kept = (
            f"{ok[0][0].get(f'{stage}_kept', '')} / {ok[0][1].get(f'{stage}_kept', '')}"
            if stage != "wall"
            else ""
        )
        print(
            f"| {stage} | {statistics.median(olds):.1f} | {statistics.median(news):.1f} | "
            f"{statistics.median(news) / statistics.median(olds):.2f} | "
            f"{min(ratios):.2f}-{max(ratios):.2f} | {kept} |"
        )
    for version in ("old", "new"):
        peaks = [r["peak_mb"] for r in results[version]]
        fails = [r for r in results[version] if r["rc"] != 0]
        print(
            f"\n{version}: peak RSS {min(peaks):.0f}-{max(peaks):.0f} MB; {len(fails)} failed runs"
            + "".join(f"\n  {f['error']}" for f in fails)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
