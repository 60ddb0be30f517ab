"""Language ID and heuristic filters: agreement with datatrove's own filters, and speed.

    python bench/bench_filters.py [--per-file 400] [--out bench/results/filters.md]
        [--fineweb-rounds 3] [--reuse-datatrove] [--spacy [--spacy-rounds 2]]

Documents: ../shared/corpora (english/, languages/, code/: every file, the first
--per-file documents of each). Both sides judge the same texts, twice:
- language-aware (the fair comparison): each document as the language lid.176 gave it.
  datatrove 0.10.1 (installed by this script into bench/.venv-datatrove, gitignored, as the
  near-dedup benchmark does, plus jieba and Sudachi for its Chinese and Japanese word
  tokenizers): LanguageFilter (lid.176: the same .ftz file Thresher uses, handed to
  datatrove's FT176LID instead of its download), then one GopherQualityFilter,
  GopherRepetitionFilter, C4QualityFilter, FineWebQualityFilter per language, with that
  `language` (zh as `zh_Hani`, its jieba tokenizer) and Gopher quality set as Thresher sets
  it for the language. Thresher: the stages' measure + decide functions on batches of 500
  with the language column and `word_segmenters: {zh: jieba, ja: sudachi}`; and once more
  without segmenters (one word per Han/kana character, the default).
- language-blind: every document as English (datatrove's defaults; Thresher without a
  language column).
With --spacy, Thresher also runs with `word_tokenizer: spacy` (spaCy's blank tokenizer of
each document's language, as datatrove's) in both comparisons, against the same datatrove
verdicts (tables "word_tokenizer: spacy").
Reported: per rule set the share of documents with the same keep/drop decision (also on
the documents not labelled ja/zh), the disagreements by (Thresher reason, datatrove reason)
and by corpus file, documents per second on each side, alternating fineweb-only timings,
and language ID accuracy per language on languages/ documents of >= 200 characters.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
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
CJK_PACKAGES = ("jieba==0.42.1", "sudachipy==0.7.0", "sudachidict-core==20261015")
# detected: both sides told each document's language (lid.176's label, the same on both);
# en: every document taken as English (datatrove's default, Thresher without language_id)
MODES = ("detected", "en")
# Thresher's dictionary segmenters in the language-aware comparison, and the datatrove code
# whose word tokenizer is the same segmenter: datatrove gives lid.176's bare `zh` spaCy's
# multilingual tokenizer (no Chinese segmentation); its `zh_Hani` is spaCy's jieba one
SEGMENTERS = {"zh": "jieba", "ja": "sudachi"}
DATATROVE_CODES = {"zh": "zh_Hani"}

DATATROVE_SCRIPT = r"""
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
    GopherQualityFilter, GopherRepetitionFilter, LanguageFilter)
from datatrove.utils.word_tokenizers import load_word_tokenizer
from fasttext.FastText import _FastText

docs = [json.loads(line) for line in open(sys.argv[1])]
ours = json.loads(open(sys.argv[3]).read())  # Thresher's per-language settings
lang = LanguageFilter(language_threshold=0.65)
lang.model._model = _FastText(sys.argv[2])  # the shipped .ftz instead of a download
CLASSES = {"gopher_quality": GopherQualityFilter, "gopher_repetition": GopherRepetitionFilter,
           "c4": C4QualityFilter, "fineweb": FineWebQualityFilter}
fallback = {}

def tokenizer_language(code):
    code = ours["datatrove_codes"].get(code, code)
    try:
        load_word_tokenizer(code)
        return code
    except ValueError:  # no tokenizer assigned to this code in datatrove: English's
        fallback[code] = fallback.get(code, 0) + 1
        return "en"

def make(name, code):
    kw = {}
    if name == "gopher_quality":  # the settings Thresher's stage uses for this language
        if code in ours["stop_words"]:
            kw["stop_words"] = ours["stop_words"][code]
        else:
            kw["min_stop_words"] = None
        if code in ours["nospace"]:
            kw.update(min_avg_word_length=None, max_avg_word_length=None)
    return CLASSES[name](language=tokenizer_language(code), **kw)

def verdict(f, doc):
    try:
        r = f.filter(doc)
    except ZeroDivisionError:
        r = (False, "zero_division")
    keep, reason = (r, None) if isinstance(r, bool) else r
    return None if keep else (reason or "dropped")

out = {"seconds": {}, "verdicts": {}, "languages": []}
t = time.perf_counter()
verdicts = []
for d in docs:
    doc = Document(text=d["text"], id=d["id"])
    verdicts.append(verdict(lang, doc))
    out["languages"].append(doc.metadata.get("language"))
out["seconds"]["language_id"] = time.perf_counter() - t
out["verdicts"]["language_id"] = verdicts
for mode in ("detected", "en"):
    for name, cls in CLASSES.items():
        filters = {}
        t = time.perf_counter()
        verdicts = []
        for d, code in zip(docs, out["languages"]):
            code = code if mode == "detected" else "en"
            if code not in filters:  # one filter (and word tokenizer) per language, as a
                filters[code] = make(name, code) if mode == "detected" else cls()  # pipeline would
            verdicts.append(verdict(filters[code], Document(text=d["text"], id=d["id"])))
        out["seconds"][f"{mode}/{name}"] = time.perf_counter() - t
        out["verdicts"][f"{mode}/{name}"] = verdicts
out["tokenizer_fallback"] = fallback
print(json.dumps(out))
"""


EXPLAINED = """## Why they disagree (classes, from bench/out/filters/disagreements.jsonl)

- **Word units of Chinese and Japanese**: by default Thresher makes every Han/kana
  character a word, whatever the language. datatrove's word tokenizer depends on the code
  it is given: `ja` is Sudachi's dictionary words (spaCy ja, split mode A); lid.176's bare
  `zh` is spaCy's multilingual tokenizer, which does not segment Chinese (a run between
  spaces or punctuation is one word; its `zh_Hani`/`cmn` codes get jieba); `en` (the
  language-blind table) is spaCy's English tokenizer, which also keeps a CJK run whole.
  With fewer, longer words punctuation tokens are a larger share (datatrove drops more for
  alpha words < 0.8), Chinese documents have few words (`gopher_short_doc`), and repeated
  n-grams are counted over words there and over characters here. The language-aware table
  runs Thresher with `word_segmenters` (jieba, Sudachi: the same segmenters) and datatrove
  with `zh_Hani`, which removes most of this class; the "default word units" table shows it
  without them. The column "not labelled ja/zh" is the agreement on the other documents
  (no document is left out of the first column). What remains on ja/zh documents with the
  segmenters: datatrove cuts Japanese texts into 40,000-byte chunks at its own boundaries,
  Thresher at character boundaries, and lid.176 labels some Chinese/Japanese pages `en`
  (see the accuracy table), which both sides then judge as English, each with its own
  English word rules.
- **spaCy's rules the regex words do not copy**: the regex words follow spaCy's prefix,
  suffix and infix rules per language, English contractions and French elisions (see
  scorers/text_units.py), but not its exception lists (emoticons such as `):` in Python
  code, `''`, `cannot` -> `can not`, `vs.`, French hyphenated words like `sous-routine`) nor
  its unit suffixes (`136mm` -> `136 mm`). Token counts move by a little, so documents whose
  measure sits that close to a threshold flip (bench/token_diff.py counts the differences by
  kind).
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


def thresher_side(docs: list[dict], spacy: bool = False) -> tuple[dict, dict, list]:
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
    modes = (*MODES, "detected-chars", *(("detected-spacy", "en-spacy") if spacy else ()))
    for mode in modes:
        langs = None if mode.startswith("en") else languages
        segment = SEGMENTERS if mode in ("detected", "detected-spacy") else {}
        words = "spacy" if mode.endswith("-spacy") else "regex"
        for name in qf.RULE_SETS:
            cfg = qf.QualityFiltersConfig(
                **{name: {}}, word_segmenters=segment, word_tokenizer=words
            )
            if words == "spacy":  # load each language's tokenizer outside the timing
                qf.measure(cfg, batches[0], None if langs is None else langs[:500])
            qf.check(cfg)  # loads the segmenters outside the timing, as a worker's setup does
            t = time.perf_counter()
            attrs = pa.concat_tables(
                [qf.measure(cfg, b, None if langs is None else langs[i * 500 : i * 500 + b.num_rows])
                 for i, b in enumerate(batches)]
            )  # fmt: skip
            verdicts[f"{mode}/{name}"] = list(qf.decide(cfg, attrs))
            seconds[f"{mode}/{name}"] = time.perf_counter() - t
    return verdicts, seconds, languages


FINEWEB_SCRIPT = r"""
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline import filters
docs = [json.loads(line) for line in open(sys.argv[1])]
name = sys.argv[2] if len(sys.argv) > 2 else "FineWebQualityFilter"
if name == "LanguageFilter":  # with the shipped lid.176 file (argv[3]) instead of a download
    from fasttext.FastText import _FastText
    f = filters.LanguageFilter(language_threshold=0.65)
    f.model._model = _FastText(sys.argv[3])
else:
    f = getattr(filters, name)()
f.filter(Document(text="warm up.", id="0"))
t = time.perf_counter()
for d in docs:
    f.filter(Document(text=d["text"], id=d["id"]))
print(time.perf_counter() - t)
"""


DATATROVE_CLASSES = {"gopher_quality": "GopherQualityFilter",
                     "gopher_repetition": "GopherRepetitionFilter", "fineweb": "FineWebQualityFilter",
                     "c4": "C4QualityFilter", "language_id": "LanguageFilter"}  # fmt: skip


def fineweb_rounds(
    docs: list[dict], work: Path, rounds: int, name: str = "fineweb", words: str = "regex"
) -> list[tuple[float, float]]:
    """(Thresher seconds, datatrove seconds) of one rule set (fineweb unless named),
    language-blind, alternating the two sides `rounds` times so both see the same share of a
    busy machine; `words`: Thresher's word_tokenizer."""
    import pyarrow as pa

    from thresher.pipelines import language_id as lid
    from thresher.pipelines import quality_filters as qf
    from thresher.scorers.lid import shipped_model_path

    (work / "datatrove_fineweb.py").write_text(FINEWEB_SCRIPT)
    python = ensure_datatrove()
    table = pa.table({"id": [d["id"] for d in docs], "text": [d["text"] for d in docs]})
    batches = [table.slice(i, 500) for i in range(0, table.num_rows, 500)]
    if name == "language_id":  # the stage's identifier (forked helpers on every core)
        cfg = lid.LanguageIdConfig(min_score=0.65)
        measure, decide = lid.measure, lid.decide
        # load (and compile, the first time on a machine) outside the timing
        lid._identifier(cfg.model, cfg.label_prefix).predict(["warm up."])
    else:
        cfg = qf.QualityFiltersConfig(**{name: {}}, word_tokenizer=words)
        measure, decide = qf.measure, qf.decide
        qf.measure(cfg, batches[0].slice(0, 5), None)  # load spaCy's tokenizer outside the timing
    docs_file = work / f"docs-{len(docs)}.jsonl"
    with docs_file.open("w") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
    command = [str(python), str(work / "datatrove_fineweb.py"), str(docs_file)]
    command += [DATATROVE_CLASSES[name], str(shipped_model_path())]
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        for b in batches:
            decide(cfg, measure(cfg, b, None))
        ours = time.perf_counter() - t
        proc = subprocess.run(command, capture_output=True, text=True, check=True)
        out.append((ours, float(proc.stdout.strip().splitlines()[-1])))
    return out


def datatrove_side(work: Path, n_docs: int) -> dict | None:
    from thresher.scorers import quality_measures as qm
    from thresher.scorers.lid import shipped_model_path

    settings = {
        "stop_words": qm.GOPHER_STOP_WORDS,
        "nospace": sorted(qm.NOSPACE_LANGUAGES),
        "datatrove_codes": DATATROVE_CODES,
    }
    (work / "thresher_settings.json").write_text(json.dumps(settings))
    (work / "datatrove_filters.py").write_text(DATATROVE_SCRIPT)
    python = ensure_datatrove()
    probe = subprocess.run([str(python), "-c", "import jieba, sudachipy, sudachidict_core"])
    if probe.returncode:  # datatrove's zh_Hani and ja word tokenizers (spaCy's) need them
        subprocess.run([str(python), "-m", "pip", "install", "-q", *CJK_PACKAGES], check=True)
    print(f"{n_docs} documents from {CORPORA}; datatrove ...", file=sys.stderr)
    proc = subprocess.run(
        [str(python), str(work / "datatrove_filters.py"), str(work / "docs.jsonl"),
         str(shipped_model_path()), str(work / "thresher_settings.json")],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
        return None
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    load = os.getloadavg()
    out["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()) + (
        f", load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-file", type=int, default=400)
    ap.add_argument("--out", default=str(HERE / "results" / "filters.md"))
    ap.add_argument(
        "--fineweb-rounds", type=int, default=3,
        help="alternating fineweb-only timings of both sides (speed on a shared machine)",
    )  # fmt: skip
    ap.add_argument(
        "--spacy", action="store_true",
        help="also run Thresher with word_tokenizer: spacy (needs thresher[spacy])",
    )  # fmt: skip
    ap.add_argument(
        "--spacy-rounds", type=int, default=2,
        help="with --spacy: alternating gopher_quality / gopher_repetition timings on every 5th "
        "document, Thresher with word_tokenizer spacy",
    )  # fmt: skip
    ap.add_argument(
        "--reuse-datatrove", action="store_true",
        help="take datatrove's verdicts and timings from the last run (bench/out/filters)",
    )  # fmt: skip
    ap.add_argument(
        "--alternating", action="append", default=[], metavar="RULE_SET",
        help="only alternating timings of this rule set or language_id (repeatable), language-blind, Thresher "
        "with the default regex words, on every 5th document; prints a table and leaves --out "
        "alone",
    )  # fmt: skip
    ap.add_argument("--alternating-rounds", type=int, default=5)
    args = ap.parse_args()
    if not CORPORA.is_dir():
        print("needs ../shared/corpora", file=sys.stderr)
        return 1

    docs = load_docs(args.per_file)
    work = HERE / "out" / "filters"
    work.mkdir(parents=True, exist_ok=True)
    if args.alternating:
        print(alternating_table(docs[::5], work, args.alternating, args.alternating_rounds))
        return 0
    with (work / "docs.jsonl").open("w") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
    cached = work / "datatrove.json"
    if args.reuse_datatrove and cached.exists():  # while working on Thresher's side only
        dt = json.loads(cached.read_text())
        dt["reused"] = True
    else:
        dt = datatrove_side(work, len(docs))
        if dt is None:
            return 1
        cached.write_text(json.dumps(dt))
    print("thresher ...", file=sys.stderr)
    ours, our_seconds, languages = thresher_side(docs, args.spacy)
    rounds = fineweb_rounds(docs, work, args.fineweb_rounds) if args.fineweb_rounds else []
    spacy_rounds = {}
    if args.spacy and args.spacy_rounds:
        for name in ("gopher_quality", "gopher_repetition"):
            print(f"alternating {name} (spacy) ...", file=sys.stderr)
            spacy_rounds[name] = fineweb_rounds(docs[::5], work, args.spacy_rounds, name, "spacy")
    report = render(docs, ours, our_seconds, languages, dt, rounds, spacy_rounds)
    Path(args.out).write_text(report)
    (work / "disagreements.jsonl").write_text(disagreements(docs, ours, dt))
    print(report)
    return 0


def disagreements(docs, ours, dt) -> str:
    lines = []
    for name, mine in ours.items():
        for d, a, b in zip(docs, mine, _theirs(dt, name), strict=True):
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


def _theirs(dt, name: str, what: str = "verdicts"):
    """datatrove's verdicts (or seconds) for a Thresher result: `detected-chars` (Thresher
    without segmenters) and `detected-spacy` (word_tokenizer spacy) are compared with the
    same language-aware datatrove run, `en-spacy` with the language-blind one."""
    mode, _, rule_set = name.rpartition("/")
    if not mode:
        return dt[what][name]
    return dt[what][f"{mode.split('-')[0]}/{rule_set}"]


def _differ(mine, theirs):
    return [(a is None) != (b is None) for a, b in zip(mine, theirs, strict=True)]


CJK = ("ja", "zh")  # lid.176 labels of the languages written without spaces in the corpora


def table(n, names, ours, our_seconds, dt, languages) -> list[str]:
    other = [lang not in CJK for lang in languages]
    out = [
        "| rule set | same decision | same, documents not labelled ja/zh "
        f"({sum(other)}) | dropped (Thresher / datatrove) | Thresher docs/s | datatrove docs/s "
        "| speed ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        mine, theirs = ours[name], _theirs(dt, name)
        differ = _differ(mine, theirs)
        same = n - sum(differ)
        same_other = sum(o and not x for o, x in zip(other, differ, strict=True))
        drops = f"{sum(a is not None for a in mine)} / {sum(b is not None for b in theirs)}"
        ours_rate, dt_rate = n / our_seconds[name], n / _theirs(dt, name, "seconds")
        out.append(
            f"| {name.split('/')[-1]} | {same / n:.2%} ({n - same}) | "
            f"{same_other / sum(other):.2%} ({sum(other) - same_other}) | {drops} | "
            f"{ours_rate:,.0f} | {dt_rate:,.0f} | {ours_rate / dt_rate:.1f}x |"
        )
    total_ours = sum(our_seconds[k] for k in names)
    total_dt = sum(_theirs(dt, k, "seconds") for k in names)
    out.append(
        f"| all {len(names)} | | | | {n / total_ours:,.0f} | {n / total_dt:,.0f} | "
        f"{total_dt / total_ours:.1f}x |"
    )
    return out


def breakdown(docs, names, ours, dt) -> list[str]:
    out = ["", "Disagreements by (Thresher reason, datatrove reason):", ""]
    for name in names:
        mine, theirs = ours[name], _theirs(dt, name)
        pairs = Counter(
            (str(a), str(b)) for a, b, x in zip(mine, theirs, _differ(mine, theirs), strict=True) if x
        )  # fmt: skip
        for (a, b), k in pairs.most_common():
            out.append(f"- {name}: Thresher `{a}` vs datatrove `{b}`: {k}")
    out += ["", "By corpus file:", ""]
    for name in names:
        mine, theirs = ours[name], _theirs(dt, name)
        groups = Counter(
            d["group"] for d, x in zip(docs, _differ(mine, theirs), strict=True) if x
        )  # fmt: skip
        if groups:
            out.append(f"- {name}: " + ", ".join(f"{g} {k}" for g, k in groups.most_common()))
    return out


def alternating_table(docs: list[dict], work: Path, names: list[str], rounds: int) -> str:
    """Alternating timings of each named rule set (regex words) as a Markdown table."""
    out = [
        f"{len(docs)} documents, {rounds} rounds, load average at the start "
        f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "",
        "| rule set | round | Thresher s | datatrove s | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        print(f"alternating {name} (regex) ...", file=sys.stderr)
        rs = fineweb_rounds(docs, work, rounds, name, "regex")
        out += [f"| {name} | {i + 1} | {t:.2f} | {d:.2f} | {d / t:.2f}x |"
                for i, (t, d) in enumerate(rs)]  # fmt: skip
        ratios = sorted(d / t for t, d in rs)
        out.append(f"| {name} | median | | | {ratios[len(ratios) // 2]:.2f}x |")
    out.append(f"\nload average at the end {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return "\n".join(out)


def render(docs, ours, our_seconds, languages, dt, rounds=(), spacy_rounds=None) -> str:
    n = len(docs)
    sets = ("gopher_quality", "gopher_repetition", "c4", "fineweb")
    load = os.getloadavg()
    out = [
        "# Language ID and heuristic filters vs datatrove 0.10.1",
        "",
        f"{n} documents: the first {max(Counter(d['group'] for d in docs).values())} of every "
        "file in ../shared/corpora/english, languages and code (`python bench/bench_filters.py`). "
        "One process per side on the same machine, whose 2 cores were shared with other work "
        f"(load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the end): speeds are "
        "pessimistic for both sides and their ratio is the number to read. datatrove's filters "
        "are called document by document, Thresher's measure + decide on batches of 500.",
        *(
            [
                "",
                f"datatrove's verdicts and timings are from an earlier run ({dt.get('measured')}"
                ", `--reuse-datatrove`); the speed ratios mix two moments of a busy machine, "
                "the alternating FineWeb timings below do not.",
            ]
            if dt.get("reused")
            else []
        ),
        "",
        "## Language-aware: each document's detected language on both sides (the fair comparison)",
        "",
        "What a run with `language_id` does, and what a datatrove pipeline does after its "
        "LanguageFilter: each document is judged as the language lid.176 gave it (labels equal "
        "on both sides). datatrove gets one filter per language with its `language` argument "
        "(so its word tokenizer for that code) and Gopher quality with Thresher's per-language "
        "settings (stop-word list where Thresher has one, else no stop-word rule; no word-length "
        "rule for languages written without spaces), so both sides apply the same rules. "
        f"Thresher runs with `word_segmenters: {SEGMENTERS}` (Chinese: jieba, Japanese: "
        "Sudachi, as datatrove's spaCy front ends do); datatrove gets its code whose word "
        f"tokenizer is that segmenter ({DATATROVE_CODES}: its table gives lid.176's bare `zh` "
        "spaCy's multilingual tokenizer, which does not segment Chinese).",
        "",
        *table(
            n, ["language_id", *(f"detected/{s}" for s in sets)], ours, our_seconds, dt, languages
        ),
        *breakdown(docs, [f"detected/{s}" for s in sets], ours, dt),
    ]
    fallback = dt.get("tokenizer_fallback") or {}
    if fallback:
        out += [
            "",
            "Labels datatrove has no word tokenizer for (judged with its English one): "
            + ", ".join(f"{k} {v}" for k, v in sorted(fallback.items())),
        ]
    out += [
        "",
        "The same, with Thresher's default word units for Chinese and Japanese (one word per "
        "Han/kana character, no `word_segmenters`), against the same datatrove verdicts:",
        "",
        *table(n, [f"detected-chars/{s}" for s in sets], ours, our_seconds, dt, languages),
        "",
        "## Language-blind: every document taken as English (datatrove's default)",
        "",
        "datatrove's filters at their defaults and Thresher without a language column.",
        "",
        *table(n, [f"en/{s}" for s in sets], ours, our_seconds, dt, languages),
        *breakdown(docs, [f"en/{s}" for s in sets], ours, dt),
    ]
    if "detected-spacy/fineweb" in ours:
        out += [
            "",
            "## word_tokenizer: spacy (spaCy's blank tokenizer of each document's language)",
            "",
            "Thresher with `quality_filters.word_tokenizer: spacy`: the words of gopher_quality, "
            "gopher_repetition and fineweb come from `spacy.blank(lang).tokenizer` (the object "
            "datatrove's SpaCyTokenizer calls), one tokenizer call per language over the distinct "
            "whitespace chunks of each batch; zh/ja still through `word_segmenters`. Same "
            "datatrove verdicts and timings as above.",
            "",
            "Language-aware:",
            "",
            *table(n, [f"detected-spacy/{s}" for s in sets], ours, our_seconds, dt, languages),
            *breakdown(docs, [f"detected-spacy/{s}" for s in sets], ours, dt),
            "",
            "Language-blind (every document as English):",
            "",
            *table(n, [f"en-spacy/{s}" for s in sets], ours, our_seconds, dt, languages),
            *breakdown(docs, [f"en-spacy/{s}" for s in sets], ours, dt),
        ]
    if spacy_rounds:
        out += [
            "",
            "Speed with spaCy's words, alternating runs: each rule set alone, language-blind, "
            f"on every 5th document ({len(docs[::5])}), Thresher (`word_tokenizer: spacy`) and "
            "datatrove taking turns (both see the same share of the busy machine):",
            "",
            "| rule set | round | Thresher s | datatrove s | ratio |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, rs in spacy_rounds.items():
            out += [f"| {name} | {i + 1} | {t:.2f} | {d:.2f} | {d / t:.1f}x |"
                    for i, (t, d) in enumerate(rs)]  # fmt: skip
    if rounds:
        ratios = sorted(d / t for t, d in rounds)
        out += [
            "",
            "## FineWeb rule set speed, alternating runs",
            "",
            "The fineweb rule set alone, language-blind, Thresher and datatrove taking turns "
            f"{len(rounds)} times on the same {n} documents (so both see the same share of the "
            "busy machine):",
            "",
            "| round | Thresher s | datatrove s | ratio |",
            "|---:|---:|---:|---:|",
            *(f"| {i + 1} | {t:.2f} | {d:.2f} | {d / t:.1f}x |" for i, (t, d) in enumerate(rounds)),
            f"| median | | | {ratios[len(ratios) // 2]:.1f}x |",
        ]
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
