"""Language ID and heuristic filters: agreement with datatrove's own filters, and speed.

    python bench/bench_filters.py [--per-file 400] [--out bench/results/filters.md]

Documents: ../shared/corpora (english/, languages/, code/: every file, the first
--per-file documents of each). Both sides judge the same texts:
- datatrove 0.10.1 (installed by this script into bench/.venv-datatrove, gitignored, as the
  near-dedup benchmark does): LanguageFilter (lid.176: the same .ftz file Thresher uses,
  handed to datatrove's FT176LID instead of its download), GopherQualityFilter,
  GopherRepetitionFilter, C4QualityFilter, FineWebQualityFilter, all at their defaults
  (English word tokenizer: spaCy's), one process.
- Thresher: the quality_filters / language_id stages' measure + decide functions on
  batches of 500 documents, one process, no language column (datatrove's filters assume
  English too), LanguageFilter's rule as `min_score: 0.65`.
Reported: per rule set the share of documents with the same keep/drop decision, the
disagreements by (Thresher reason, datatrove reason), documents per second on each side;
language ID accuracy per language on languages/ documents of >= 200 characters.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_near_dedup_speed import ensure_datatrove  # noqa: E402

CORPORA = HERE.parent.parent / "shared" / "corpora"
FOLDERS = ("english", "languages", "code")

DATATROVE_SCRIPT = r"""
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
    GopherQualityFilter, GopherRepetitionFilter, LanguageFilter)
from fasttext.FastText import _FastText

docs = [json.loads(line) for line in open(sys.argv[1])]
lang = LanguageFilter(language_threshold=0.65)
lang.model._model = _FastText(sys.argv[2])  # the shipped .ftz instead of a download
filters = {"language_id": lang, "gopher_quality": GopherQualityFilter(),
           "gopher_repetition": GopherRepetitionFilter(), "c4": C4QualityFilter(),
           "fineweb": FineWebQualityFilter()}
out = {"seconds": {}, "verdicts": {}, "languages": []}
for name, f in filters.items():
    verdicts = []
    t = time.perf_counter()
    for d in docs:
        doc = Document(text=d["text"], id=d["id"])
        try:
            r = f.filter(doc)
        except ZeroDivisionError:
            r = (False, "zero_division")
        keep, reason = (r, None) if isinstance(r, bool) else r
        verdicts.append(None if keep else (reason or "dropped"))
        if name == "language_id":
            out["languages"].append(doc.metadata.get("language"))
    out["seconds"][name] = time.perf_counter() - t
    out["verdicts"][name] = verdicts
print(json.dumps(out))
"""


EXPLAINED = """## Why they disagree (classes, from bench/out/filters/disagreements.jsonl)

- **Chinese/Japanese words** (most gopher_repetition, c4, fineweb disagreements come from
  languages/ja and zh-CN): Thresher makes every Han/kana character a word (scripts without
  spaces); datatrove, told the documents are English, gives spaCy's English tokenizer a CJK
  run as one token. So repeated n-grams are counted over characters on our side and over
  whole clauses on theirs, and FineWeb's line breaks per word is lower here. Intended: the
  datatrove numbers for CJK are an artefact of English tokenization.
- **Word splitting near a threshold** (gopher_quality alpha_words in mail, a few repetition
  n-gram shares): our regex tokenizer follows spaCy's English rules (leading/trailing
  punctuation split off, URLs/emails/`3.14`/`main(){` kept whole, letter-hyphen-letter
  split, `...` and dash runs kept) but not its exceptions (`don't` -> `do n't`, `U.S.` kept
  whole, some infixes), so token counts differ by a few percent; documents whose measure
  sits within that of the threshold flip.
- **C4 sentence counts**: datatrove runs spaCy's sentencizer on each kept line; Thresher
  counts runs of `.`/`!`/`?` followed by a space or the line end (at least one per kept
  line). Lines with abbreviations or CJK full stops count differently near the 5-sentence
  floor.
- **Language ID**: same model file, same text preparation, same rule: identical labels.
"""


def load_docs(per_file: int) -> list[dict]:
    docs = []
    for folder in FOLDERS:
        for path in sorted((CORPORA / folder).glob("*.jsonl.gz")):
            with gzip.open(path, "rt") as f:
                for i, line in enumerate(f):
                    if i >= per_file:
                        break
                    d = json.loads(line)
                    docs.append(
                        {"id": f"{folder}/{path.name}/{i}", "text": d["text"], "lang": d.get("lang"),
                         "group": f"{folder}/{path.name.split('.')[0]}"}
                    )  # fmt: skip
    return docs


def thresher_side(docs: list[dict]) -> tuple[dict, dict, list]:
    import pyarrow as pa

    from thresher.pipelines import language_id as lid
    from thresher.pipelines import quality_filters as qf

    verdicts, seconds = {}, {}
    table = pa.table({"id": [d["id"] for d in docs], "text": [d["text"] for d in docs]})
    batches = [table.slice(i, 500) for i in range(0, table.num_rows, 500)]
    lcfg = lid.LanguageIdConfig(min_score=0.65)
    lid._identifier(lcfg.model, lcfg.label_prefix)  # load once, outside the timing
    t = time.perf_counter()
    attrs = pa.concat_tables([lid.measure(lcfg, b, None) for b in batches])
    verdicts["language_id"] = list(lid.decide(lcfg, attrs))
    seconds["language_id"] = time.perf_counter() - t
    languages = attrs.column("language").to_pylist()
    for name in qf.RULE_SETS:
        cfg = qf.QualityFiltersConfig(**{name: {}})
        t = time.perf_counter()
        attrs = pa.concat_tables([qf.measure(cfg, b, None) for b in batches])
        verdicts[name] = list(qf.decide(cfg, attrs))
        seconds[name] = time.perf_counter() - t
    return verdicts, seconds, languages


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-file", type=int, default=400)
    ap.add_argument("--out", default=str(HERE / "results" / "filters.md"))
    args = ap.parse_args()
    if not CORPORA.is_dir():
        print("needs ../shared/corpora", file=sys.stderr)
        return 1
    from thresher.scorers.lid import shipped_model_path

    docs = load_docs(args.per_file)
    work = HERE / "out" / "filters"
    work.mkdir(parents=True, exist_ok=True)
    with (work / "docs.jsonl").open("w") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
    (work / "datatrove_filters.py").write_text(DATATROVE_SCRIPT)
    python = ensure_datatrove()
    print(f"{len(docs)} documents from {CORPORA}; datatrove ...", file=sys.stderr)
    proc = subprocess.run(
        [str(python), str(work / "datatrove_filters.py"), str(work / "docs.jsonl"),
         str(shipped_model_path())],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    dt = json.loads(proc.stdout.strip().splitlines()[-1])
    print("thresher ...", file=sys.stderr)
    ours, our_seconds, languages = thresher_side(docs)
    report = render(docs, ours, our_seconds, languages, dt)
    Path(args.out).write_text(report)
    (work / "disagreements.jsonl").write_text(disagreements(docs, ours, dt))
    print(report)
    return 0


def disagreements(docs, ours, dt) -> str:
    lines = []
    for name, mine in ours.items():
        for d, a, b in zip(docs, mine, dt["verdicts"][name], strict=True):
            if (a is None) != (b is None):
                row = {
                    "set": name,
                    "id": d["id"],
                    "thresher": a,
                    "datatrove": b,
                    "text": d["text"][:3000],
                }
                lines.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def render(docs, ours, our_seconds, languages, dt) -> str:
    n = len(docs)
    out = [
        "# Language ID and heuristic filters vs datatrove 0.10.1",
        "",
        f"{n} documents: the first documents of every file in ../shared/corpora/english, "
        "languages and code (`python bench/bench_filters.py`). One process per side, same "
        "machine (2 cores); datatrove's filters called document by document, Thresher's "
        "measure + decide on batches of 500.",
        "",
        "| rule set | same decision | dropped (Thresher / datatrove) | Thresher docs/s | datatrove docs/s | speed ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, mine in ours.items():
        theirs = dt["verdicts"][name]
        same = sum((a is None) == (b is None) for a, b in zip(mine, theirs, strict=True))
        drops = f"{sum(a is not None for a in mine)} / {sum(b is not None for b in theirs)}"
        ours_rate, dt_rate = n / our_seconds[name], n / dt["seconds"][name]
        out.append(
            f"| {name} | {same / n:.2%} ({n - same}) | {drops} | {ours_rate:,.0f} | "
            f"{dt_rate:,.0f} | {ours_rate / dt_rate:.1f}x |"
        )
    total_ours, total_dt = sum(our_seconds.values()), sum(dt["seconds"].values())
    out.append(
        f"| all five | | | {n / total_ours:,.0f} | {n / total_dt:,.0f} | {total_dt / total_ours:.1f}x |"
    )
    out += ["", "## Disagreements by (Thresher reason, datatrove reason)", ""]
    for name, mine in ours.items():
        pairs = Counter(
            (str(a), str(b)) for a, b in zip(mine, dt["verdicts"][name], strict=True)
            if (a is None) != (b is None)
        )  # fmt: skip
        for (a, b), k in pairs.most_common():
            out.append(f"- {name}: Thresher `{a}` vs datatrove `{b}`: {k}")
    out += ["", "## Disagreements by corpus file", ""]
    for name, mine in ours.items():
        groups = Counter(
            d["group"] for d, a, b in zip(docs, mine, dt["verdicts"][name], strict=True)
            if (a is None) != (b is None)
        )  # fmt: skip
        if groups:
            out.append(f"- {name}: " + ", ".join(f"{g} {k}" for g, k in groups.most_common()))
    out += ["", EXPLAINED]
    same_label = sum(a == b for a, b in zip(languages, dt["languages"], strict=True))
    out += [
        "",
        f"Language labels equal to datatrove's: {same_label}/{n}.",
        "",
        "## Language ID accuracy (lid.176.ftz), ../shared/corpora/languages, documents >= 200 chars",
        "",
        "| language | documents | accuracy | most common wrong label |",
        "|---|---:|---:|---|",
    ]
    by_lang: dict = {}
    for d, got in zip(docs, languages, strict=True):
        if d["group"].startswith("languages/") and len(d["text"]) >= 200:
            by_lang.setdefault(d["lang"], []).append(got)
    for lang, got in sorted(by_lang.items()):
        want = lang.split("-")[0]
        right = sum(g == want for g in got)
        wrong = Counter(g for g in got if g != want).most_common(1)
        shown = f"{wrong[0][0]} ({wrong[0][1]})" if wrong else "-"
        out.append(f"| {lang} | {len(got)} | {right / len(got):.1%} | {shown} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
