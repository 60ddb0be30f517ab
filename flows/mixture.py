"""The `mixture` flow: category samples + a BPE tokenizer -> the tokenizer's training mixture.

count pretokens (Beam, cached) -> replay the first T merges per category (parallel) -> lazy
LP (HiGHS) -> <out>/mixture.json + <out>/mixture.parquet. `infer` is the same work without
Prefect, for the controlled experiments that run it many times.

Layout: put results under `<root>/mixtures/<name>/` and `thresher query --out <root>` sees
them in the `mixtures` view (so does a `<root>` that is itself a mixture directory).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
from prefect import flow, task

from thresher.pipelines import io, pair_counts, schemas
from thresher.scorers.bpe_tokenizers import BPESpec, load_merges
from thresher.scorers.mixture_lp import SolveOptions, SolveResult, solve


def count_step(spec: BPESpec, categories, cache_dir, max_bytes=None, beam_args=None):
    t0 = time.perf_counter()
    got = pair_counts.count_pretokens(spec, categories, cache_dir, max_bytes, beam_args)
    return (
        [got[c.name][0] for c in categories],
        [got[c.name][1] for c in categories],
        time.perf_counter() - t0,
    )


def replay_and_solve(
    spec: BPESpec, tables, metas, merges: int, options: SolveOptions, workers: int | None = None
) -> tuple[SolveResult, dict]:
    t0 = time.perf_counter()
    used = min(merges, len(spec.merges))
    replays = pair_counts.replay_categories(spec, tables, used, workers)
    t1 = time.perf_counter()
    result = solve(replays, pair_counts.sample_bytes(metas), used, options)
    timings = {"replay": t1 - t0, "solve": time.perf_counter() - t1}
    timings["events"] = int(sum(len(r.ev_key) for r in replays))
    return result, timings


def summary(
    name: str,
    spec: BPESpec,
    categories,
    metas,
    result: SolveResult,
    merges_used: int,
    timings: dict,
    truth: dict | None = None,
) -> dict:
    props = {c.name: float(p) for c, p in zip(categories, result.proportions, strict=True)}
    return {
        "mixture": name,
        "tokenizer": spec.path,
        "tokenizer_kind": spec.kind,
        "tokenizer_fingerprint": spec.fingerprint,
        "proportions": props,
        "merges_used": merges_used,
        "objective": result.objective,
        "upper_bound": result.upper_bound,
        "rounds": result.rounds,
        "constraints": result.constraints,
        "stop_reason": result.stop_reason,
        "gap": result.gap,
        "max_rel_violation": result.max_rel_violation,
        "rows_dropped": result.rows_dropped,
        "simplex_iterations": result.simplex_iterations,
        "unexplained": unexplained(spec, result, merges_used),
        "sample_bytes": {c.name: int(m["bytes"]) for c, m in zip(categories, metas, strict=True)},
        "seconds": round(sum(v for k, v in timings.items() if k != "events"), 3),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "truth": truth,
    }


def unexplained(spec: BPESpec, result: SolveResult, merges_used: int) -> dict:
    """How much of the merge list no category explains: merges whose pair occurs in no
    category's sample at their step, and the share of the LP's slack they take."""
    total = result.slack_unexplained_steps + result.slack_other_steps + result.slack_pairs
    return {
        "steps": result.unexplained_steps,
        "share": result.unexplained_steps / max(merges_used, 1),
        "slack": result.slack_unexplained_steps,
        "slack_share": result.slack_unexplained_steps / total if total > 0 else 0.0,
        "slack_other_steps": result.slack_other_steps,
        "slack_pairs": result.slack_pairs,
        "first": [{"step": t, "merge": " ".join(spec.merges[t])} for t in result.unexplained_first],
    }


def write_outputs(out: str | Path, s: dict) -> Path:
    out = Path(out)
    truth = s.get("truth") or {}
    rows = [
        {
            "mixture": s["mixture"],
            "tokenizer": s["tokenizer"],
            "category": name,
            "proportion": p,
            "sample_bytes": s["sample_bytes"][name],
            "merges_used": s["merges_used"],
            "objective": s["objective"],
            "truth": truth.get(name),
        }
        for name, p in s["proportions"].items()
    ]
    io.write_parquet(pa.Table.from_pylist(rows, schema=schemas.MIXTURE), out / "mixture.parquet")
    io.write_json(s, out / "mixture.json")
    return out


def infer(
    tokenizer: str,
    category_args: list[str],
    out: str | Path,
    merges: int = 30000,
    pattern: str | None = None,
    cache_dir: str | Path | None = None,
    max_bytes: int | None = None,
    options: SolveOptions | None = None,
    beam_args: list[str] | None = None,
    truth: dict | None = None,
    spec: BPESpec | None = None,
) -> dict:
    """Everything `thresher mixture infer` does, without Prefect. Returns the summary."""
    spec = spec or load_merges(tokenizer, pattern)
    categories = pair_counts.parse_categories(category_args)
    cache_dir = Path(cache_dir or Path(out) / "pretoken-cache")
    tables, metas, t_count = count_step(spec, categories, cache_dir, max_bytes, beam_args)
    result, timings = replay_and_solve(spec, tables, metas, merges, options or SolveOptions())
    s = summary(
        Path(out).name,
        spec,
        categories,
        metas,
        result,
        min(merges, len(spec.merges)),
        {"count": t_count, **timings},
        truth,
    )
    write_outputs(out, s)
    return s


@task(name="count_pretokens")
def count_task(spec, categories, cache_dir, max_bytes, beam_args):
    return count_step(spec, categories, cache_dir, max_bytes, beam_args)


@task(name="replay_and_solve")
def solve_task(spec, tables, metas, merges, options):
    return replay_and_solve(spec, tables, metas, merges, options)


@flow(name="mixture", log_prints=True)
def mixture(
    tokenizer: str,
    categories: list[str],
    out: str,
    merges: int = 30000,
    pattern: str | None = None,
    cache_dir: str | None = None,
    max_bytes: int | None = None,
    beam_args: list[str] | None = None,
) -> dict:
    """Infer the training mixture of `tokenizer` over NAME=GLOB categories into `out`."""
    spec = load_merges(tokenizer, pattern)
    cats = pair_counts.parse_categories(categories)
    cache = cache_dir or str(Path(out) / "pretoken-cache")
    tables, metas, t_count = count_task(spec, cats, cache, max_bytes, beam_args)
    result, timings = solve_task(spec, tables, metas, merges, SolveOptions())
    s = summary(
        Path(out).name,
        spec,
        cats,
        metas,
        result,
        min(merges, len(spec.merges)),
        {"count": t_count, **timings},
    )
    write_outputs(out, s)
    return s


def read_texts(patterns: list[str]) -> list[str]:
    """Every document text of the files matching `patterns` (sorted file order)."""
    from thresher.pipelines.records import ReaderSettings, RecordReader

    reader = RecordReader(ReaderSettings(max_chars=100_000_000))
    texts = []
    for path in io.expand_inputs(patterns):
        for docs, _rejects, _seen in reader.read_file(path):
            texts += docs.column("text").to_pylist()
    return texts


def run_experiment(
    category_args: list[str],
    out: str | Path,
    n: int | None = None,
    trials: int = 5,
    vocab: int = 30000,
    merges: int = 30000,
    train_bytes: int = 1_600_000,
    count_bytes: int | None = None,
    train_fraction: float = 0.5,
    seed: int = 0,
    options: SolveOptions | None = None,
    beam_args=None,
    log=print,
) -> dict:
    """Sample mixtures, train tokenizers on them, infer them back; returns the report."""
    import numpy as np

    from thresher.scorers import mixture_experiment as mx
    from thresher.scorers.errors import ConfigError

    out = Path(out)
    cats = pair_counts.parse_categories(category_args)
    n = n or len(cats)
    if not 2 <= n <= len(cats):
        raise ConfigError(f"--n {n} must be between 2 and the {len(cats)} categories given")
    splits, count_args = {}, {}
    for c in cats:  # disjoint train / count parts, the count part written once for Beam
        sp = mx.Split.of(read_texts(list(c.files)), train_fraction, seed)
        if count_bytes:
            sp.count = mx.head_bytes(sp.count, count_bytes)
        splits[c.name] = sp
        path = out / "count" / f"{c.name}.jsonl"
        io.write_text("".join(json.dumps({"text": t}) + "\n" for t in sp.count), path)
        count_args[c.name] = f"{c.name}={path}"
    rng = np.random.default_rng(seed)
    rows = []
    for trial in range(trials):
        chosen = sorted(rng.choice(len(cats), n, replace=False)) if n < len(cats) else range(n)
        names = [cats[i].name for i in chosen]
        w = mx.sample_weights(n, rng)
        texts, got = mx.draw_training_text([splits[k].train for k in names], w, train_bytes, rng)
        tdir = out / "mixtures" / f"trial-{trial:03d}"
        tdir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        mx.train_byte_level_bpe(texts, vocab, tdir / "tokenizer.json")
        t_train = time.perf_counter() - t0
        truth = got / got.sum()
        s = infer(
            str(tdir / "tokenizer.json"),
            [count_args[k] for k in names],
            tdir,
            merges,
            cache_dir=out / "pretoken-cache",
            options=options,
            beam_args=beam_args,
            truth=dict(zip(names, truth.tolist(), strict=True)),
        )
        est = np.array([s["proportions"][k] for k in names])
        row = {
            "trial": trial,
            "n": n,
            "categories": ",".join(names),
            "train_bytes": int(got.sum()),
            "count_bytes": int(sum(s["sample_bytes"].values())),
            "merges_used": s["merges_used"],
            "log10_mse": mx.log10_mse(truth, est),
            "max_abs_error": float(np.abs(truth - est).max()),
            "rounds": s["rounds"],
            "stop_reason": s["stop_reason"],
            "train_seconds": round(t_train, 2),
            "infer_seconds": s["seconds"],
        }
        rows.append(row)
        if log:
            log(row)
    errs = np.array([r["log10_mse"] for r in rows])
    report = {
        "n": n,
        "trials": trials,
        "vocab": vocab,
        "categories": [c.name for c in cats],
        "log10_mse_mean": float(errs.mean()),
        "log10_mse_std": float(errs.std()),
        "random_guess_log10_mse": mx.random_guess_log10_mse(n),
        "count_bytes_per_category": {k: mx.nbytes(v.count) for k, v in splits.items()},
        "rows": rows,
    }
    io.write_json(report, out / "experiment.json")
    io.write_parquet(pa.Table.from_pylist(rows), out / "trials.parquet")
    return report
