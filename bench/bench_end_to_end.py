"""End to end against datatrove on the same job: dedup -> fastText quality filter -> tokenize.

    python bench/bench_end_to_end.py --docs 50000 --pairs 2
    python bench/bench_end_to_end.py --docs 200000 --pairs 1      # bench-100k twice
    python bench/bench_end_to_end.py --fixed-cost                  # a tiny run's fixed cost

Corpus: ../shared/corpora/bench-100k (its first N documents; above 100k the corpus again with
fresh ids and 2% of words edited, so every document gains a near copy), or generated text
when that folder is absent. Written once as two .jsonl.gz files (id, text) both systems read.

Shared assets, trained here once: a fastText quality model of PreSelect's shape (dim 100,
wordNgrams 2, softmax; labels from a crude property, the point is speed) and a 32k byte-level
BPE tokenizer.json (HF `tokenizers`). Both systems keep P(__label__1) >= --threshold and
append <|endoftext|> to every document.

- thresher: `thresher run` (fresh process, temporary Prefect API unless PREFECT_API_URL is
  set) with ingest, exact dedup, near dedup (defaults), `score:` threshold, `shards:`.
- datatrove 0.10.1 (its own venv, bench/.venv-datatrove, installed as bench_near_dedup_speed
  does): MinhashDedupSignature -> Buckets -> Cluster -> Filter (default MinhashConfig), then
  FastTextClassifierFilter (newlines as spaces, as Thresher's scorer sees them) -> JSONL, then
  DocumentTokenizer; 2 tasks on 2 workers per step (Cluster: 1 task).

The two alternate (thresher first, then datatrove), `--pairs` times; each pair reports the
ratio datatrove seconds / thresher seconds and the load average before it. Peak memory is the
whole process tree's RSS (Prefect's server and datatrove's workers included), sampled every
0.1 s. Near-dup precision/recall of both against exact 5-gram Jaccard (the truth of
bench_near_dedup_speed: all planted-group pairs plus every pair either system asserted).
Raw library rows (one thread, fresh process, first 10k documents): fastText `predict` and
tiktoken `encode_ordinary`, in characters per second, to set each stage's throughput against.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
from common import measure_tree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpora" / "bench-100k"
WORK = HERE / "out" / "end_to_end"
EOS = "<|endoftext|>"

DATATROVE_SCRIPT = r"""
import json, sys, time
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
    MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature)
from datatrove.pipeline.filters import FastTextClassifierFilter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.tokens import DocumentTokenizer
from datatrove.pipeline.writers import JsonlWriter


def main(inp, work, model, tokenizer, threshold):
    cfg = MinhashConfig()
    seconds = {}

    def run(name, pipeline, tasks):
        t = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(tasks, 2),
                              logging_dir=f"{work}/logs/{name}").run()
        seconds[name] = time.perf_counter() - t

    run("minhash_signatures", [JsonlReader(inp),
        MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)], 2)
    run("minhash_buckets", [MinhashDedupBuckets(input_folder=f"{work}/sigs",
        output_folder=f"{work}/buckets", config=cfg)], cfg.num_buckets)
    run("minhash_cluster", [MinhashDedupCluster(input_folder=f"{work}/buckets",
        output_folder=f"{work}/remove", config=cfg, save_cluster_id=True)], 1)
    run("minhash_filter", [JsonlReader(inp), MinhashDedupFilter(input_folder=f"{work}/remove",
        load_cluster_ids=True, exclusion_writer=JsonlWriter(f"{work}/removed")),
        JsonlWriter(f"{work}/kept")], 2)
    run("fasttext_filter", [JsonlReader(f"{work}/kept"), FastTextClassifierFilter(model,
        keep_labels=[("1", threshold)], newline_replacement=" ", save_labels_in_metadata=False),
        JsonlWriter(f"{work}/filtered")], 2)
    run("tokenize", [JsonlReader(f"{work}/filtered"), DocumentTokenizer(f"{work}/tokens",
        tokenizer_name_or_path=tokenizer, eos_token="<|endoftext|>")], 2)
    print(json.dumps(seconds))


if __name__ == "__main__":  # the executor starts worker processes
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
"""

RAW = r"""
import gzip, json, sys, time
from thresher.scorers.fasttext_scorer import FastTextScorer, preprocess
from thresher.scorers.text_tokenizers import load_tokenizer
texts = []
for p in sys.argv[1:-2]:
    with gzip.open(p, "rt") as f:
        texts += [json.loads(line)["text"] for line in f]
texts = texts[:10000]
clean = [preprocess(t) for t in texts]
model = FastTextScorer(sys.argv[-2]).model
tk = load_tokenizer(sys.argv[-1]).tk
chars = sum(map(len, texts))
best = {"fasttext_predict": 1e9, "tiktoken_encode_ordinary": 1e9}
for _ in range(2):
    t = time.perf_counter(); model.predict(clean, k=-1)
    best["fasttext_predict"] = min(best["fasttext_predict"], time.perf_counter() - t)
    t = time.perf_counter(); [tk.encode_ordinary(x) for x in texts]
    best["tiktoken_encode_ordinary"] = min(best["tiktoken_encode_ordinary"], time.perf_counter() - t)
print(json.dumps({k: chars / v for k, v in best.items()}))
"""


# -- corpus and assets ---------------------------------------------------------------------
def source_docs(n: int) -> list[dict]:
    """The first n documents of bench-100k (id, text, group), or generated ones."""
    docs = []
    if CORPUS.is_dir():
        for path in sorted(CORPUS.glob("bench_*.jsonl.gz")):
            with gzip.open(path, "rt") as f:
                for line in f:
                    d = json.loads(line)
                    docs.append({"id": d["id"], "text": d["text"], "group": str(d["group"])})
                    if len(docs) == n:
                        return docs
        return docs
    from common import make_corpus

    print("bench-100k not found: generated text", file=sys.stderr)
    paths, _ = make_corpus(WORK / "generated", n, files=2)
    for p in paths:
        for line in Path(p).read_text().splitlines():
            d = json.loads(line)
            docs.append({"id": d["id"], "text": d["text"], "group": d["id"]})
    return docs


def edited(text: str, rng: random.Random, rate: float) -> str:
    """`rate` of the words replaced by a neighbour word or dropped (a seeded near copy)."""
    words = text.split(" ")
    for i in range(len(words)):
        if rng.random() < rate:
            words[i] = words[rng.randrange(len(words))] if rng.random() < 0.5 else ""
    return " ".join(words)


def corpus(n: int) -> tuple[Path, list[dict]]:
    """Two .jsonl.gz files of n documents (written once); returns (directory, docs)."""
    base = source_docs(min(n, 100_000))
    docs = list(base)
    rng = random.Random(17)
    copy = 1
    while len(docs) < n:  # bench-100k again: fresh ids, 2% of words edited
        for d in base[: n - len(docs)]:
            docs.append(
                {
                    "id": f"{d['id']}-c{copy}",
                    "text": edited(d["text"], rng, 0.02),
                    "group": d["group"],
                }
            )
        copy += 1
    directory = WORK / f"input-{n}"
    if not (directory / "done").exists():
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for k in range(2):
            with gzip.open(directory / f"part{k}.jsonl.gz", "wt", compresslevel=1) as f:
                for d in docs[k::2]:
                    f.write(
                        json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n"
                    )
        (directory / "done").touch()
    return directory, docs


def assets(docs: list[dict], vocab: int) -> tuple[Path, Path]:
    """(fastText model, tokenizer.json), trained once on the corpus's first documents."""
    from thresher.scorers.scorer_training import TrainSettings, train_fasttext
    from thresher.scorers.text_tokenizers import train_byte_level_bpe

    directory = WORK / "assets"
    directory.mkdir(parents=True, exist_ok=True)
    model, tok = directory / "quality.bin", directory / f"bpe{vocab}.json"
    sample = [d["text"] for d in docs[:6000]]
    if not model.exists():
        # positives: long lines (prose), negatives: short ones (code, menus); only speed matters
        pos = [t for t in sample if len(t) > 70 * (t.count("\n") + 1)]
        neg = [t for t in sample if len(t) <= 70 * (t.count("\n") + 1)]
        ft, _ = train_fasttext(
            pos, neg, TrainSettings(bucket=200_000, epoch=10, lr=0.5, valid_fraction=0)
        )
        ft.save_model(str(model))
    if not tok.exists():
        train_byte_level_bpe(sample, vocab, special_tokens=(EOS,)).save(str(tok))
    return model, tok


def median_score(model: Path, docs: list[dict]) -> float:
    """The model's median P(__label__1) on the first 5,000 documents: a threshold that
    keeps about half, so both the filter and the tokenizer have work."""
    import numpy as np

    from thresher.scorers.fasttext_scorer import FastTextScorer

    scores = FastTextScorer(model).score_batch([d["text"] for d in docs[:5000]])
    return round(float(np.median(scores)), 4)


# -- measuring -----------------------------------------------------------------------------
def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def thresher_env(src: str | None) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if src:  # an older Thresher source tree (see --thresher-src) ahead of the installed one
        env["PYTHONPATH"] = src
    return env


def run_thresher(
    inp: Path, out: Path, model: Path, tok: Path, threshold: float, src, env=None, fresh=True
) -> dict:
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    cfg = out / "config.json"
    cfg.write_text(
        json.dumps(
            {
                "score": {"model": str(model), "threshold": threshold},
                "shards": {"tokenizer": str(tok), "eos": EOS},
            }
        )
    )
    cmd = [sys.executable, "-m", "thresher.flows.cli", "run", "--input", str(inp / "*.jsonl.gz")]
    cmd += ["--out", str(out), "--config", str(cfg), "--run-id", "run"]
    secs, mem, _ = measure_tree(cmd, env or thresher_env(src), cwd=src or ROOT)
    run = out / "runs" / "run"
    stats = {p.stem: json.loads(p.read_text()) for p in (run / "stats").glob("*.json")}
    order = ["ingest", "exact_dedup", "near_dedup", "score", "shards"]
    stages = {s: stats[s]["seconds"] for s in order if s in stats}
    return {
        "seconds": secs,
        "peak_mb": mem["rss"],
        "peak_pss_mb": mem["pss"],
        "cpu_seconds": mem["cpu"],
        "stages": stages,
        "outside_stages": secs - sum(stages.values()),
        "kept": {s: stats[s]["kept"] for s in order if s in stats},
        "tokens": stats["shards"].get("tokens"),
        "score_chars": (stats["score"].get("scores_summary") or {}).get("chars"),
        "shards_chars": (stats["score"].get("selection") or {}).get("kept_chars"),
    }


def count_jsonl(directory: Path) -> int:
    n = 0
    for f in directory.glob("*.jsonl.gz"):
        with gzip.open(f, "rb") as fh:
            n += sum(1 for _ in fh)
    return n


def run_datatrove(python: Path, inp: Path, work: Path, model: Path, tok: Path, threshold) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    script = work / "dt_run.py"
    script.write_text(DATATROVE_SCRIPT)
    # datatrove copies a model into its cache once per path, never again: a path named by
    # the content, so a retrained model is never mistaken for the cached older one
    digest = hashlib.sha256(model.read_bytes()).hexdigest()[:12]
    named = model.with_name(f"{model.stem}-{digest}{model.suffix}")
    if not named.exists():
        shutil.copyfile(model, named)
    model = named
    cmd = [str(python), str(script), str(inp), str(work), str(model), str(tok), str(threshold)]
    secs, mem, out = measure_tree(cmd, cwd=ROOT)
    steps = json.loads(out.strip().splitlines()[-1])
    size = sum(f.stat().st_size for f in (work / "tokens").rglob("*.ds"))
    minhash = sum(v for k, v in steps.items() if k.startswith("minhash"))
    return {
        "seconds": secs,
        "peak_mb": mem["rss"],
        "peak_pss_mb": mem["pss"],
        "cpu_seconds": mem["cpu"],
        "stages": {
            "minhash (4 steps)": minhash,
            **{k: steps[k] for k in ("fasttext_filter", "tokenize")},
        },
        "outside_stages": secs - sum(steps.values()),
        "kept": {
            "near_dedup": count_jsonl(work / "kept"),
            "score": count_jsonl(work / "filtered"),
        },
        "tokens": size // 2,  # uint16 ids below 65,536 tokens
    }


def dedup_quality(docs: list[dict], t_out: Path, d_work: Path) -> dict:
    from bench_near_dedup_quality import evaluate
    from bench_near_dedup_speed import datatrove_clusters, pair_truth, thresher_clusters

    from thresher.scorers.minhash import ShingleSpec

    found = {
        "thresher": thresher_clusters(t_out / "runs"),
        "datatrove": datatrove_clusters(d_work),
    }
    asserted = [p for _, pairs in found.values() for p in pairs]
    truth = pair_truth(docs, asserted, ShingleSpec(), 0.75)
    ids = [d["id"] for d in docs]
    scores = {k: evaluate(ids, truth, c, p, 0.8) for k, (c, p) in found.items()}
    return {k: {m: v for m, v in q.items() if not m.startswith("_")} for k, q in scores.items()}


def raw_rates(inp: Path, model: Path, tok: Path, src) -> dict:
    cmd = [
        sys.executable,
        "-c",
        RAW,
        *map(str, sorted(inp.glob("*.jsonl.gz"))),
        str(model),
        str(tok),
    ]
    _, _, out = measure_tree(cmd, thresher_env(src), cwd=src or ROOT)
    return json.loads(out.strip().splitlines()[-1])


# -- score and shards alone, this code against another --------------------------------------
def stage_ab(args, inp: Path, model: Path, tok: Path) -> None:
    """Score and shards again on the finished run of --docs (every earlier stage is
    skipped: same fingerprints), this code and --thresher-src alternating, each round after
    raw one-thread predict / encode on 10k of the same documents."""
    out = WORK / f"thresher-{args.docs}"
    run = out / "runs" / "run"
    if not (run / "stats" / "near_dedup.json").exists():
        raise SystemExit(f"no finished run in {out}: run this --docs without --stage-ab first")
    rows = []
    for rnd in range(args.stage_ab):
        for code in (None, args.thresher_src):
            raw = raw_rates(inp, model, tok, code)
            for stage in ("score", "shards"):
                (run / "stats" / f"{stage}.json").unlink(missing_ok=True)
            load_before = load()
            r = run_thresher(inp, out, model, tok, args.threshold, code, fresh=False)
            rows.append(
                {"round": rnd + 1, "code": code or "current", "load": load_before, "raw": raw, **r}
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(f"\n# score and shards stages, current code vs {args.thresher_src}, {args.docs:,} docs\n")
    print(
        "| round | code | load before | score s | score Mchar/s | raw predict Mchar/s | ratio | "
        "shards s | shards Mchar/s | raw tiktoken Mchar/s | ratio |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = []
        for stage, chars_key, lib in (
            ("score", "score_chars", "fasttext_predict"),
            ("shards", "shards_chars", "tiktoken_encode_ordinary"),
        ):
            secs, rate = r["stages"][stage], r[chars_key] / r["stages"][stage]
            cells.append(
                f"{secs:.1f} | {rate / 1e6:.2f} | {r['raw'][lib] / 1e6:.2f} | {rate / r['raw'][lib]:.2f}x"
            )
        print(f"| {r['round']} | {r['code']} | {r['load']} | {' | '.join(cells)} |")


# -- the fixed cost of a small run -----------------------------------------------------------
def fixed_cost(model: Path, tok: Path, repeat: int, src: str | None) -> None:
    """`thresher run` on 40 documents: wall, time in stages, and the rest. With `src`, the
    current code and `src` alternate run by run (the machine's load drifts)."""
    inp = WORK / "tiny"
    inp.mkdir(parents=True, exist_ok=True)
    docs = source_docs(40)
    with gzip.open(inp / "tiny.jsonl.gz", "wt") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"]}) + "\n")
    codes = [None, src] if src else [None]
    imports: dict = {c: [] for c in codes}
    for _ in range(repeat):
        for code in codes:
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", "import thresher.flows.cli, thresher.flows.curate"],
                env=thresher_env(code),
                cwd=code or ROOT,
                check=True,
            )
            imports[code].append(time.perf_counter() - t)
    rows = []
    for mode in ("temporary API", "running server"):
        server = None
        extra = {}
        if mode == "running server":
            port = 4217
            server = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--port", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**thresher_env(None), "PREFECT_HOME": str(WORK / "prefect-home")},
                start_new_session=True,
            )
            extra["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
            wait_for(f"http://127.0.0.1:{port}/api/health", 120)
        try:
            for i in range(repeat):
                for code in codes:
                    env = {**thresher_env(code), **extra}
                    out = WORK / f"tiny-out-{i}"
                    r = run_thresher(inp, out, model, tok, 0.0, code, env)
                    rows.append({"mode": mode, "code": code or "current", **r, "load": load()})
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        finally:
            if server is not None:
                os.killpg(server.pid, 15)
                server.wait()
    print(f"\n# fixed cost of `thresher run` on 40 documents ({psutil.cpu_count()} cores)\n")
    for code, secs in imports.items():
        print(
            f"import thresher.flows.cli + curate, fresh interpreter ({code or 'current'}): "
            + ", ".join(f"{s:.2f}" for s in secs)
            + " s"
        )
    print("\n| mode | code | wall s | in stages s | outside stages s | load after |")
    print("|---|---|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['code']} | {r['seconds']:.2f} | "
            f"{sum(r['stages'].values()):.2f} | {r['outside_stages']:.2f} | {r['load']} |"
        )


def wait_for(url: str, timeout: float) -> None:
    import urllib.request

    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"no Prefect server at {url} after {timeout} s")


# -- main ----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument(
        "--threshold", type=float, help="keep P(__label__1) >= this (default: the median)"
    )
    ap.add_argument("--vocab", type=int, default=32_000)
    ap.add_argument("--thresher-only", action="store_true", help="no datatrove runs")
    ap.add_argument(
        "--thresher-src",
        help="a source tree laid out as the installed package (thresher/{pipelines,scorers,"
        "flows}) to run instead, e.g. an older commit's, for before/after rows",
    )
    ap.add_argument("--no-quality", action="store_true", help="skip the near-dup P/R check")
    ap.add_argument("--fixed-cost", action="store_true", help="only the small-run fixed cost")
    ap.add_argument(
        "--stage-ab",
        type=int,
        metavar="ROUNDS",
        help="only score + shards again on the finished --docs run, this code vs --thresher-src",
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs per mode with --fixed-cost")
    args = ap.parse_args()

    inp, docs = corpus(args.docs)
    model, tok = assets(docs, args.vocab)
    if args.fixed_cost:
        return fixed_cost(model, tok, args.repeat, args.thresher_src)
    if args.threshold is None:
        args.threshold = median_score(model, docs)
    if args.stage_ab:
        return stage_ab(args, inp, model, tok)
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    python = None
    if not args.thresher_only:
        from bench_near_dedup_speed import ensure_datatrove

        python = ensure_datatrove()
    pairs = []
    for i in range(args.pairs):
        pair = {"raw": raw_rates(inp, model, tok, args.thresher_src), "load_before": load()}
        pair["thresher"] = run_thresher(
            inp, WORK / f"thresher-{args.docs}", model, tok, args.threshold, args.thresher_src
        )
        print(json.dumps({"pair": i, "thresher": pair["thresher"]}), file=sys.stderr, flush=True)
        if python is not None:
            pair["load_between"] = load()
            pair["datatrove"] = run_datatrove(
                python, inp, WORK / f"datatrove-{args.docs}", model, tok, args.threshold
            )
            print(
                json.dumps({"pair": i, "datatrove": pair["datatrove"]}), file=sys.stderr, flush=True
            )
        pairs.append(pair)
    quality = None
    if python is not None and not args.no_quality:
        quality = dedup_quality(
            docs, WORK / f"thresher-{args.docs}", WORK / f"datatrove-{args.docs}"
        )
    report(args, docs, mb, pairs, quality)


def wall(side: dict) -> str:
    return f"{side['seconds']:.1f} ({side.get('cpu_seconds', float('nan')):.0f})"


def mem(side: dict) -> str:
    return f"{side['peak_mb']:.0f} / {side.get('peak_pss_mb', float('nan')):.0f}"


def report(args, docs, mb, pairs, quality) -> None:
    src = "bench-100k" if CORPUS.is_dir() else "generated text"
    what = f" (thresher from {args.thresher_src})" if args.thresher_src else ""
    print(
        f"\n# end to end: {len(docs):,} docs, {mb:.1f} MB ({src}), {psutil.cpu_count()} cores, "
        f"threshold {args.threshold}{what}\n"
    )
    print(
        "| pair | load before thresher / datatrove | thresher s (CPU s) | datatrove s (CPU s) | "
        "ratio | thresher peak MB (RSS sum / PSS sum) | datatrove peak MB (RSS sum / PSS sum) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for i, p in enumerate(pairs):
        t, d = p["thresher"], p.get("datatrove")
        ratio = f"{d['seconds'] / t['seconds']:.2f}x" if d else ""
        print(
            f"| {i + 1} | {p['load_before']} / {p.get('load_between', '')} | {wall(t)} | "
            f"{wall(d) if d else ''} | {ratio} | {mem(t)} | "
            f"{mem(d) if d else ''} |"
        )
    print("\n## per-stage seconds (each pair)\n")
    for i, p in enumerate(pairs):
        for side in ("thresher", "datatrove"):
            if side in p:
                s = p[side]
                cells = ", ".join(f"{k} {v:.1f}" for k, v in s["stages"].items())
                print(f"- pair {i + 1} {side}: {cells}, outside stages {s['outside_stages']:.1f}")
    t = pairs[-1]["thresher"]
    print("\n## kept (last pair)\n")
    print(f"- thresher: {t['kept']}, tokens {t['tokens']:,}")
    if "datatrove" in pairs[-1]:
        d = pairs[-1]["datatrove"]
        print(f"- datatrove: {d['kept']}, tokens {d['tokens']:,}")
    print("\n## stage throughput vs the raw library, one thread, measured just before each run\n")
    print("| pair | stage | chars in | stage s | stage Mchar/s | raw 1-thread Mchar/s | ratio |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for i, p in enumerate(pairs):
        t = p["thresher"]
        for stage, chars_key, lib in (
            ("score", "score_chars", "fasttext_predict"),
            ("shards", "shards_chars", "tiktoken_encode_ordinary"),
        ):
            chars, secs, raw = t.get(chars_key), t["stages"].get(stage), p["raw"][lib]
            if chars and secs:
                print(
                    f"| {i + 1} | {stage} | {chars:,} | {secs:.1f} | {chars / secs / 1e6:.2f} | "
                    f"{raw / 1e6:.2f} ({lib}) | {chars / secs / raw:.2f}x |"
                )
    if quality:
        print("\n## near-dup quality vs exact 5-gram Jaccard (pairs >= 0.8)\n")
        print("| system | precision | recall | f1 |")
        print("|---|---:|---:|---:|")
        for k, q in quality.items():
            print(f"| {k} | {q['precision']:.3f} | {q['recall']:.3f} | {q['f1']:.3f} |")
    print("\n```json\n" + json.dumps({"pairs": pairs, "quality": quality}) + "\n```")


if __name__ == "__main__":
    main()
