"""Benchmark: data mixture inference on ../shared/corpora (present only on the dev machine).

Parts (each prints a table and appends to bench/results/mixture.json):
  accuracy  controlled experiments: n=5 languages, n=7 languages, code (4), mixed
  curve     error against count-sample size: n=5 languages, 0.25-2 MB per category
            (tokenizers trained on 3.2 MB of disjoint text, once per trial, from 57% of each
            language, leaving 2 MB+ to count; the same mixtures at every size, so sizes
            compare on paired trials; --train 1600000 0.5 for the earlier 1.6 MB runs)
  speed     counting + replay of 10 categories (~1 MB each) at T=30,000; a solve at n=30
  speed30   only the n=30 experiment (see `thirty_categories` for how the 30 are made)

Usage: python bench/bench_mixture.py [accuracy|curve|speed|speed30 ...] [--trials R]
       [--only languages-5 ...] [--solve '{"per_round": 1500}']
       curve: [--sizes B ...] [--train BYTES FRACTION] [--merges T ...]
       [--counts disjoint oracle bootstrap] [--workdir DIR] [--first-trial K] [--tag KEY]
The reference ("peer") numbers are the paper's (1 GB samples, 10 GB training text) and
random guessing, which the report prints next to ours.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
RESULTS = ROOT / "bench" / "results" / "mixture.json"
LANGS = ["en", "de", "fr", "es", "ru", "ja", "zh-CN"]
CODE = ["python", "c", "java", "javascript"]
ENGLISH = ["bible", "changelogs", "docs-rst", "mail-ham", "mail-spam"]


def cat(folder: str, name: str) -> str:
    return f"{folder}-{name}={CORPORA / folder / name}.jsonl.gz"


SETTINGS = {
    "languages-5": ([cat("languages", x) for x in LANGS[:5]], None),
    "languages-7": ([cat("languages", x) for x in LANGS], None),
    "code-4": ([cat("code", x) for x in CODE], None),
    "mixed-8-of-16": (
        [cat("languages", x) for x in LANGS]
        + [cat("code", x) for x in CODE]
        + [cat("english", x) for x in ENGLISH],
        8,
    ),
}


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def save(key: str, value) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = value
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1, sort_keys=True))


def accuracy(trials: int, tmp: Path, only: list[str] | None = None) -> None:
    from thresher.flows.mixture import run_experiment

    for name, (cats, n) in SETTINGS.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        r = run_experiment(cats, tmp / name, n=n, trials=trials, log=None)
        row = {
            "setting": name,
            "n": r["n"],
            "trials": trials,
            "log10_mse": round(r["log10_mse_mean"], 2),
            "std": round(r["log10_mse_std"], 2),
            "random_guess": round(r["random_guess_log10_mse"], 2),
            "train_MB": round(sum(x["train_bytes"] for x in r["rows"]) / trials / 1e6, 2),
            "count_MB_per_cat": round(
                sum(r["count_bytes_per_category"].values())
                / len(r["count_bytes_per_category"])
                / 1e6,
                2,
            ),
            "merges": round(sum(x["merges_used"] for x in r["rows"]) / trials),
            "rounds": round(sum(x["rounds"] for x in r["rows"]) / trials, 1),
            "infer_s": round(sum(x["infer_seconds"] for x in r["rows"]) / trials, 1),
            "wall_s": round(time.perf_counter() - t0, 1),
            "peak_rss_MB": round(peak_rss_mb()),
        }
        print(row, flush=True)
        save(f"accuracy/{name}", row)


def curve(
    trials: int,
    tmp: Path,
    sizes=(250_000, 500_000, 1_000_000, 2_000_000),
    train=None,
    solve_opts: dict | None = None,
    merges=(30000,),
    counts=("disjoint",),
    tag: str = "curve4",
    first_trial: int = 0,
) -> None:
    """Paired curve: each trial's tokenizer is trained once (the mixtures and training text of
    `run_experiment` with seed 0, so trials 0-2 are the earlier runs' trials) and inferred from
    every count-sample size (nested prefixes of each category's count half) and every T in
    `merges`. `counts`: "disjoint" (the count halves, as in every experiment), "oracle" (each
    category's own training text of the trial: exact training counts, so what is left is the
    method's error, not sampling), "bootstrap" (chunks drawn with replacement from that
    training text, `sizes` bytes: count-sample noise of that size around the training counts,
    without the training sample's own noise)."""
    import numpy as np

    from thresher.flows.mixture import infer, read_texts
    from thresher.pipelines import io, pair_counts
    from thresher.scorers import mixture_experiment as mx
    from thresher.scorers.mixture_lp import SolveOptions

    cats = pair_counts.parse_categories(SETTINGS["languages-5"][0])
    names = [c.name for c in cats]
    tb, tf = train or (3_200_000, 0.57)
    options = SolveOptions(**(solve_opts or {}))
    splits = {c.name: mx.Split.of(read_texts(list(c.files)), tf, 0) for c in cats}
    tmp = tmp / f"train{tb}-{tf}"  # other tokenizers and count halves: apart in a reused workdir

    def write(texts: list[str], path: Path) -> str:
        if not path.exists():
            io.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), path)
        return str(path)

    count_args = {}
    for cb in sizes:
        for k, sp in splits.items():
            keep = mx.head_bytes(sp.count, cb)
            count_args[cb, k] = f"{k}={write(keep, tmp / 'count' / str(cb) / f'{k}.jsonl')}"
    rng = np.random.default_rng(0)
    for trial in range(trials):
        w = mx.sample_weights(len(names), rng)
        parts = [splits[k].train for k in names]
        texts, got = mx.draw_training_text(parts, w, tb, rng)
        truth = got / got.sum()
        tok = tmp / "tok" / f"trial-{trial:03d}" / "tokenizer.json"
        tok.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if not tok.exists() and trial >= first_trial:
            mx.train_byte_level_bpe(texts, 30000, tok)
        t_train = time.perf_counter() - t0
        if trial < first_trial:  # drawn above all the same, so later trials stay the same
            continue
        runs = []
        if "disjoint" in counts:
            runs += [(str(cb), [count_args[cb, k] for k in names]) for cb in sizes]
        owner = {id(t): i for i, part in enumerate(parts) for t in part}
        own = [[t for t in texts if owner[id(t)] == i] for i in range(len(names))]
        if "bootstrap" in counts:  # nested prefixes of one draw per category, like `sizes`
            boot = np.random.default_rng(1000 + trial)
            draws = []
            for part in own:
                draw, b = [], 0
                while b < max(sizes):
                    draw.append(part[int(boot.integers(len(part)))])
                    b += len(draw[-1].encode("utf-8", "surrogatepass"))
                draws.append(draw)
            for cb in sizes:
                args = []
                for i, k in enumerate(names):
                    keep, b = [], 0
                    for t in draws[i]:
                        if b >= cb:
                            break
                        keep.append(t)
                        b += len(t.encode("utf-8", "surrogatepass"))
                    path = tmp / "boot" / f"{trial}" / str(cb) / f"{k}.jsonl"
                    args.append(f"{k}={write(keep, path)}")
                runs.append((f"boot{cb}", args))
        if "oracle" in counts:  # each category's share of this trial's training text, exactly
            runs.append(
                (
                    "oracle",
                    [
                        f"{k}={write(own[i], tmp / 'oracle' / f'{trial}' / f'{k}.jsonl')}"
                        for i, k in enumerate(names)
                    ],
                )
            )
        for label, args in runs:
            for T in merges:
                s = infer(
                    str(tok),
                    args,
                    tmp / "runs" / f"{label}-T{T}" / f"trial-{trial:03d}",
                    T,
                    cache_dir=tmp / "pretoken-cache",
                    options=options,
                )
                est = np.array([s["proportions"][k] for k in names])
                row = {
                    "trial": trial,
                    "count": label,
                    "merges": s["merges_used"],
                    "train_bytes_asked": tb,
                    "train_MB": round(float(got.sum()) / 1e6, 3),
                    "truth": [round(float(x), 4) for x in truth],
                    "log10_mse": round(mx.log10_mse(truth, est), 3),
                    "max_abs_error": round(float(np.abs(truth - est).max()), 4),
                    "stop": s["stop_reason"],
                    "rounds": s["rounds"],
                    "infer_s": s["seconds"],
                    "train_s": round(t_train, 1),
                    "options": solve_opts or {},
                    "peak_rss_MB": round(peak_rss_mb()),
                }
                print(row, flush=True)
                save(f"{tag}/{label}-T{T}-train{tb}/trial-{trial}", row)


def speed(tmp: Path, parts=("10", "30"), solve_opts: dict | None = None) -> None:
    """10 categories (~1 MB each), fresh cache: Beam counting + replay at T=30,000; then a
    30-category experiment (`speed30`)."""
    from thresher.flows.mixture import count_step, read_texts
    from thresher.pipelines import pair_counts
    from thresher.scorers import mixture_experiment as mx
    from thresher.scorers.bpe_tokenizers import load_merges

    if "10" not in parts:
        return speed30(tmp, solve_opts)
    ten = [cat("languages", x) for x in LANGS] + [cat("code", x) for x in CODE[:3]]
    texts = [t for c in ten for t in read_texts([c.split("=", 1)[1]])[::3]]
    mx.train_byte_level_bpe(texts, 30000, tmp / "tok.json")
    spec = load_merges(str(tmp / "tok.json"))
    cats = pair_counts.parse_categories(ten)
    tables, metas, t_count = count_step(spec, cats, tmp / "cache-10")
    t0 = time.perf_counter()
    replays = pair_counts.replay_categories(spec, tables, 30000)
    t_replay = time.perf_counter() - t0
    row = {
        "categories": 10,
        "MB": round(sum(m["bytes"] for m in metas) / 1e6, 2),
        "merges": min(30000, len(spec.merges)),
        "count_s": round(t_count, 1),
        "replay_s": round(t_replay, 1),
        "total_s": round(t_count + t_replay, 1),
        "events": sum(len(r.ev_key) for r in replays),
        "peak_rss_MB": round(peak_rss_mb()),
    }
    print(row, flush=True)
    save("speed/count_replay_10", row)
    if "30" in parts:
        speed30(tmp, solve_opts)


CASED = LANGS[:5] + CODE + ENGLISH  # the 14 sources whose script has upper case


def thirty_categories(tmp: Path) -> list[str]:
    """30 identifiable categories from the 16 source files.

    Halves of one source (the old construction) share a distribution, and random mixtures of
    the 16 sources span at most 16 dimensions, so 30 of them are linearly dependent: in both
    cases different alphas explain the same merges. Instead each of the 14 cased sources gives
    two disjoint, genuinely different categories: its even documents as they are and its odd
    documents upper-cased (other byte pairs, so other merges); ja and zh-CN stay whole."""
    from thresher.flows.mixture import read_texts
    from thresher.pipelines import io

    args = []
    for c in SETTINGS["mixed-8-of-16"][0]:
        name, path = c.split("=", 1)
        docs = read_texts([path])
        short = name.split("-", 1)[1]
        parts = (
            {name: docs}
            if short not in CASED
            else {name: docs[0::2], f"{name}-UPPER": [t.upper() for t in docs[1::2]]}
        )
        for k, texts in parts.items():
            out = tmp / "thirty" / f"{k}.jsonl"
            io.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), out)
            args.append(f"{k}={out}")
    assert len(args) == 30, len(args)
    return args


def speed30(tmp: Path, solve_opts: dict | None = None, trials: int = 1) -> None:
    from thresher.flows.mixture import run_experiment
    from thresher.scorers.mixture_lp import SolveOptions

    args = thirty_categories(tmp)
    r = run_experiment(
        args,
        tmp / "thirty-exp",
        trials=trials,
        log=None,
        options=SolveOptions(**(solve_opts or {})),
    )
    for x in r["rows"]:
        s = json.loads(
            (
                tmp / "thirty-exp" / "mixtures" / f"trial-{x['trial']:03d}" / "mixture.json"
            ).read_text()
        )
        row = {
            "categories": 30,
            "trial": x["trial"],
            "merges": x["merges_used"],
            "rounds": x["rounds"],
            "constraints": s["constraints"],
            "stop": s["stop_reason"],
            "gap": s.get("gap"),
            "solve_s": round(s["timings"]["solve"], 1),
            "replay_s": round(s["timings"]["replay"], 1),
            "count_s": round(s["timings"]["count"], 1),
            "log10_mse": round(x["log10_mse"], 2),
            "random_guess": round(r["random_guess_log10_mse"], 2),
            "max_abs_error": round(x["max_abs_error"], 4),
            "options": solve_opts or {},
            "peak_rss_MB": round(peak_rss_mb()),
        }
        print(row, flush=True)
        save(f"speed/solve_30/trial-{x['trial']}", row)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("parts", nargs="*", default=["speed", "accuracy", "curve"])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="accuracy settings to run (default: all)")
    ap.add_argument("--sizes", nargs="*", type=int, help="curve: count bytes per category")
    ap.add_argument(
        "--train", nargs=2, type=float, help="curve: training bytes asked, train fraction"
    )
    ap.add_argument("--merges", nargs="*", type=int, help="curve: merges T to use (30000)")
    ap.add_argument(
        "--counts",
        nargs="*",
        default=["disjoint"],
        choices=["disjoint", "oracle", "bootstrap"],
        help="curve: count samples (see `curve`)",
    )
    ap.add_argument("--workdir", help="curve: keep tokenizers, counts and runs here (reused)")
    ap.add_argument("--first-trial", type=int, default=0, help="curve: resume at this trial")
    ap.add_argument("--tag", default="curve4", help="curve: key prefix in mixture.json")
    ap.add_argument("--solve", default="{}", help='SolveOptions as JSON, e.g. {"per_round": 2000}')
    a = ap.parse_args()
    if not CORPORA.is_dir():
        print(f"skipped: {CORPORA} not present (benchmarks need the shared dev corpora)")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-mixture-") as d:
        for part in a.parts:
            {
                "accuracy": lambda: accuracy(a.trials, Path(d), a.only),
                "curve": lambda: curve(
                    a.trials,
                    Path(a.workdir or d),
                    a.sizes or (250_000, 500_000, 1_000_000, 2_000_000),
                    (int(a.train[0]), a.train[1]) if a.train else None,
                    json.loads(a.solve),
                    a.merges or (30000,),
                    a.counts,
                    a.tag,
                    a.first_trial,
                ),
                "speed": lambda: speed(Path(d), solve_opts=json.loads(a.solve)),
                "speed30": lambda: speed30(Path(d), json.loads(a.solve)),
            }[part]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
