"""Where Thresher's regex words and spaCy's blank tokenizer differ, counted by class.

    python bench/token_diff.py [--mode detected|en] [--top 40] [--ids FILE]

Documents: bench/out/filters/docs.jsonl (written by bench_filters.py). Both tokenizers cut
a text at whitespace first and then each chunk on its own, so the comparison is per
distinct whitespace chunk: Thresher's `text_units.tokens` of the chunk vs
`spacy.blank(lang)`'s tokens of it (what datatrove's word tokenizer gives, stripped). A
difference is named by its *shape*: letters -> `a`, digits -> `9`, other characters kept,
tokens joined by `|`, e.g. `a'a` (regex) vs `a|'a` (spaCy) for "it's". Reported per shape
pair: chunk occurrences, documents, examples. With --ids (one document id a line, e.g. the
disagreeing documents of a rule set), only those documents are counted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

HERE = Path(__file__).resolve().parent
WORK = HERE / "out" / "filters"


def shape(tokens: list[str]) -> str:
    out = "|".join(tokens)
    out = re.sub(r"[^\W\d_]+", "a", out)
    return re.sub(r"\d+", "9", out)


def main() -> int:
    from thresher.pipelines import language_id as lid
    from thresher.scorers import quality_measures as qm
    from thresher.scorers import spacy_words
    from thresher.scorers import text_units as tu

    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="detected", choices=("detected", "en"))
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--ids", help="only the documents with these ids (one a line)")
    ap.add_argument("--json", help="write {doc id: {shape pair: count}} here")
    args = ap.parse_args()
    docs = [json.loads(line) for line in (WORK / "docs.jsonl").open()]
    wanted = set(Path(args.ids).read_text().split()) if args.ids else None
    table = pa.table({"id": [d["id"] for d in docs], "text": [d["text"] for d in docs]})
    if args.mode == "detected":
        cfg = lid.LanguageIdConfig(min_score=0.65)
        langs = []
        for i in range(0, table.num_rows, 500):
            langs += lid.measure(cfg, table.slice(i, 500), None).column("language").to_pylist()
    else:
        langs = ["en"] * len(docs)
    by_lang: dict[str, list[int]] = defaultdict(list)
    for i, (d, lang) in enumerate(zip(docs, langs, strict=True)):
        base = qm.base_language(lang) or "en"
        if base in qm.NOSPACE_LANGUAGES and args.mode == "detected":
            continue  # segmenter words there, not these rules
        if wanted is None or d["id"] in wanted:
            by_lang[spacy_words.language_for(base)].append(i)
    pairs: Counter = Counter()
    pair_docs: dict = defaultdict(set)
    examples: dict = defaultdict(Counter)
    per_doc: dict = defaultdict(Counter)
    for code, idx in sorted(by_lang.items()):
        texts = pa.array([docs[i]["text"] for i in idx], pa.large_string())
        split = pc.utf8_split_whitespace(texts)
        chunks = pc.list_flatten(split).to_pylist()
        parent = pc.list_parent_indices(split).to_numpy(zero_copy_only=False)
        distinct = sorted(set(chunks) - {""})
        arr = pa.array(distinct, pa.large_string())
        ours, our_parent = tu.tokens(arr, [code] * len(arr))
        theirs, their_parent = spacy_words.tokens(arr, code)
        mine_of: list[list[str]] = [[] for _ in distinct]
        for t, p in zip(ours.to_pylist(), our_parent.tolist(), strict=True):
            mine_of[p].append(t)
        spacy_of: list[list[str]] = [[] for _ in distinct]
        for t, p in zip(theirs.to_pylist(), their_parent.tolist(), strict=True):
            spacy_of[p].append(t)
        differ = {}
        for c, a, b in zip(distinct, mine_of, spacy_of, strict=True):
            if a != b:
                differ[c] = (f"{code}: {shape(a)}  vs  {shape(b)}", len(b) - len(a))
        for chunk, p in zip(chunks, parent.tolist(), strict=True):
            if chunk in differ:
                key = differ[chunk][0]
                pairs[key] += 1
                doc_id = docs[idx[p]]["id"]
                pair_docs[key].add(doc_id)
                examples[key][chunk] += 1
                per_doc[doc_id][key] += 1
    print(f"{sum(pairs.values())} differing chunk occurrences, {len(pairs)} shape pairs")
    print("occurrences | documents | regex shape vs spaCy shape | examples")
    for key, k in pairs.most_common(args.top):
        ex = ", ".join(repr(c) for c, _ in examples[key].most_common(4))
        print(f"{k:6d} | {len(pair_docs[key]):4d} | {key} | {ex}")
    if args.json:
        Path(args.json).write_text(json.dumps(per_doc, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
