"""Benchmark: mixture inference on real tokenizers (GPT-2, cl100k_base, o200k_base rank files).

Needs ../shared/corpora and the rank files made once, offline, by
`bench/tiktoken_ranks_from_npm.py` (from the npm `tiktoken` package) under bench/out/ranks/.

Parts (each prints rows and appends to bench/results/mixture.json):
  headline  the paper's table: categories from the corpora folders (5 English tiers + en,
            4 code languages, 6 other languages), proportions summed into English / code /
            other, for each tokenizer
  converge  n = 20 and 30 categories cut from bench-100k (English, code languages, LibreOffice
            help languages; ~1 MB each) on one rank file: rounds, seconds, stop, gap

Usage: python bench/bench_mixture_real.py [headline|converge ...] [--tokenizers gpt2 ...]
       [--mb 1.0] [--merges 30000] [--solve '{"gap_tol": 0.01}']
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

from bench_mixture import CODE, CORPORA, ENGLISH, LANGS, ROOT, peak_rss_mb, save

RANKS = ROOT / "bench" / "out" / "ranks"
CATS = ROOT / "bench" / "out" / "mixture-categories"
PAPER = {  # Hayase et al. 2024, percent: English, code, other languages
    "gpt2": (99.1, 0.7, None),
    "cl100k_base": (34.3, 62.6, 3.1),
    "o200k_base": (28.1, 32.8, 39.0),
}
# bench-100k categories: LibreOffice help languages and code languages with >= 1.3 MB there.
CODE_100K = ["c", "cpp", "go", "java", "python", "rust", "ruby", "php", "sql", "perl"]
LANGS_100K = ["de", "fr", "es", "ru", "ja", "zh-CN", "el", "it", "nl", "pl", "ko", "pt-BR"]
LANGS_100K += ["cs", "tr", "vi", "sv", "hu", "id", "fi"]


def headline_categories() -> dict[str, list[str]]:
    """{group: [NAME=PATH]}: the corpora folders as the paper's three groups."""
    english = [f"english-{x}={CORPORA / 'english' / x}.jsonl.gz" for x in ENGLISH]
    english.append(f"lang-en={CORPORA / 'languages' / 'en'}.jsonl.gz")
    code = [f"code-{x}={CORPORA / 'code' / x}.jsonl.gz" for x in CODE]
    other = [f"lang-{x}={CORPORA / 'languages' / x}.jsonl.gz" for x in LANGS if x != "en"]
    return {"english": english, "code": code, "other": other}


def bench100k_categories(n: int, mb: float) -> list[str]:
    """n categories of ~mb MB each cut from bench-100k: English first, then code and
    languages in the proportion 1 : 8 : 10 of the issue's 19 (20: 1/8/11, 30: 1/10/19)."""
    n_code = 8 if n <= 20 else 10
    names = ["english"] + [f"code-{x}" for x in CODE_100K[:n_code]]
    names += [f"lang-{x}" for x in LANGS_100K[: n - 1 - n_code]]
    out = CATS / f"bench100k-{mb}MB"
    if not all((out / f"{k}.jsonl").exists() for k in names):
        _cut_bench100k(out, int(mb * 1e6))
    return [f"{k}={out / k}.jsonl" for k in names]


def _cut_bench100k(out: Path, cap: int) -> None:
    want = {"english": ("english", "en")}
    want |= {f"code-{x}": ("code", x) for x in CODE_100K}
    want |= {f"lang-{x}": ("multilingual", x) for x in LANGS_100K}
    by_key = {v: k for k, v in want.items()}
    got = {k: [] for k in want}
    size = dict.fromkeys(want, 0)
    for shard in sorted((CORPORA / "bench-100k").glob("bench_*.jsonl.gz")):
        with gzip.open(shard, "rt") as fh:
            for line in fh:
                d = json.loads(line)
                if d["category"] == "multilingual" and d["source"] != "lohelp":
                    continue
                name = by_key.get((d["category"], d.get("lang")))
                if name is None or size[name] >= cap or d.get("dup_kind") != "orig":
                    continue
                got[name].append(d["text"])
                size[name] += len(d["text"].encode("utf-8", "surrogatepass"))
        if min(size.values()) >= cap:
            break
    out.mkdir(parents=True, exist_ok=True)
    for name, texts in got.items():
        (out / f"{name}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


def run_infer(tok: str, cats: list[str], out: Path, mb: float, merges: int, solve: dict):
    from thresher.flows.mixture import infer
    from thresher.scorers.mixture_lp import SolveOptions

    return infer(
        str(RANKS / f"{tok}.tiktoken"),
        cats,
        out,
        merges,
        cache_dir=ROOT / "bench" / "out" / "pretoken-cache",
        max_bytes=int(mb * 1e6),
        options=SolveOptions(**solve),
    )


def headline(tokenizers: list[str], mb: float, merges: int, solve: dict) -> None:
    groups = headline_categories()
    cats = [c for g in groups.values() for c in g]
    for tok in tokenizers:
        t0 = time.perf_counter()
        s = run_infer(tok, cats, ROOT / "bench" / "out" / f"headline-{tok}", mb, merges, solve)
        share = {
            g: round(100 * sum(s["proportions"][c.split("=")[0]] for c in members), 1)
            for g, members in groups.items()
        }
        row = {
            "tokenizer": tok,
            "n": len(cats),
            "merges": s["merges_used"],
            **share,
            "paper": PAPER.get(tok),
            "proportions": {k: round(v, 4) for k, v in s["proportions"].items()},
            "unexplained_steps": s.get("unexplained", {}).get("steps"),
            "unexplained_slack_share": s.get("unexplained", {}).get("slack_share"),
            "stop": s["stop_reason"],
            "rounds": s["rounds"],
            "gap": round(s["gap"], 4),
            "solve_s": round(s["timings"]["solve"], 1),
            "replay_s": round(s["timings"]["replay"], 1),
            "count_s": round(s["timings"]["count"], 1),
            "wall_s": round(time.perf_counter() - t0, 1),
            "peak_rss_MB": round(peak_rss_mb()),
            "options": solve,
        }
        print(row, flush=True)
        save(f"real/headline/{tok}", row)


def converge(tok: str, sizes: list[int], mb: float, merges: int, solve: dict) -> None:
    for n in sizes:
        cats = bench100k_categories(n, mb)
        s = run_infer(tok, cats, ROOT / "bench" / "out" / f"converge-{tok}-{n}", mb, merges, solve)
        top = sorted(s["proportions"].items(), key=lambda kv: -kv[1])[:5]
        row = {
            "tokenizer": tok,
            "n": n,
            "merges": s["merges_used"],
            "stop": s["stop_reason"],
            "rounds": s["rounds"],
            "constraints": s["constraints"],
            "gap": round(s["gap"], 4),
            "objective": round(s["objective"], 1),
            "upper_bound": round(s["upper_bound"], 1),
            "solve_s": round(s["timings"]["solve"], 1),
            "replay_s": round(s["timings"]["replay"], 1),
            "unexplained_steps": s.get("unexplained", {}).get("steps"),
            "top": [(k, round(v, 3)) for k, v in top],
            "peak_rss_MB": round(peak_rss_mb()),
            "options": solve,
        }
        print(row, flush=True)
        save(f"real/converge/{tok}-{n}", row)


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("parts", nargs="*", default=["headline", "converge"])
    ap.add_argument("--tokenizers", nargs="*", default=["gpt2", "cl100k_base", "o200k_base"])
    ap.add_argument("--sizes", nargs="*", type=int, default=[20, 30])
    ap.add_argument("--mb", type=float, default=1.0, help="count sample per category, MB")
    ap.add_argument("--merges", type=int, default=30000)
    ap.add_argument("--solve", default="{}", help="SolveOptions as JSON")
    a = ap.parse_args()
    if not CORPORA.is_dir():
        print(f"skipped: {CORPORA} not present (benchmarks need the shared dev corpora)")
        return 0
    missing = [t for t in a.tokenizers if not (RANKS / f"{t}.tiktoken").exists()]
    if missing:
        print(f"missing {missing} under {RANKS}: run bench/tiktoken_ranks_from_npm.py first")
        return 1
    solve = json.loads(a.solve)
    for part in a.parts:
        if part == "headline":
            headline(a.tokenizers, a.mb, a.merges, solve)
        elif part == "converge":
            converge(a.tokenizers[0], a.sizes, a.mb, a.merges, solve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
