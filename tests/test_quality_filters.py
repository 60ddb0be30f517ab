"""Heuristic quality filters: each rule at and around its threshold, the attributes table,
re-thresholding without recomputing, and the stage's accounting."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from thresher.pipelines import attributes, io, schemas
from thresher.pipelines import quality_filters as qf
from thresher.pipelines.stage import StageContext, fingerprint
from thresher.scorers import quality_measures as qm
from thresher.scorers import text_units as tu

PROSE = "the cat and the dog have a home with a garden that is big."  # 14 words, 13 + "."


def verdict(text: str, **sets) -> str | None:
    cfg = qf.QualityFiltersConfig(**sets)
    table = qf.measure(cfg, pa.table({"id": ["d"], "text": [text]}), None)
    return qf.decide(cfg, table)[0]


def words(n: int, word: str = "word") -> str:
    return " ".join([word] * n)


# --- word splitting -------------------------------------------------------------------


def test_tokens_follow_spacy_like_rules():
    texts = pa.array(["(well-known) stop!!! http://x.io/a?b=1 ...", "你好 在Python中"])
    toks, parent = tu.tokens(texts, ["en", "zh"])
    assert toks.to_pylist() == [
        "(", "well", "-", "known", ")", "stop", "!", "!", "!", "http://x.io/a?b=1", "...",
        "你", "好", "在", "Python", "中",
    ]  # fmt: skip
    assert parent.tolist() == [0] * 11 + [1] * 5
    # without a language (English) or in a language written with spaces, a run of Han/kana
    # is one word, as in spaCy's tokenizers of those languages (datatrove's words)
    assert tu.tokens(texts)[0].to_pylist()[-2:] == ["你好", "在Python中"]
    assert tu.tokens(texts, ["de", "fr"])[0].to_pylist()[-2:] == ["你好", "在Python中"]
    # a URL or an e-mail address stays whole, hyphens included (spaCy matches them first)
    toks, _ = tu.tokens(pa.array(["mail x-y@tu-berlin.de or <http://a-b.org/c-d>, a-b-c"]))
    assert toks.to_pylist() == [
        "mail", "x-y@tu-berlin.de", "or", "<", "http://a-b.org/c-d", ">", ",", "a", "-", "b", "-", "c",
    ]  # fmt: skip


# one text per rule of `text_units.tokens`, each checked against spaCy's blank tokenizer of
# the language (what datatrove counts as words); the rules are per language where spaCy's are
SPACY_CASES = {
    "en": [
        "I don't think it's what you're after, can't we? I'm sure they'll know won't.",
        "Use --all or -1 with @param and .NET, see ~/x and \\tab. +0200 -0500",
        "a // b || c >> d -----~--> e !!! ?! +++ ++",
        "He met C. Smith in the U.S. at the end. AB. 9. (x). ab.)",
        "Wait... what..now x...y a…b",
        "oCell.Formula I/O a=b CA,CO c:func 9/x",
        "1991-2020 3*4 32-bit well-known a—b",
        "100% a% #1 (see [1]).",
        "mail x-y@tu-berlin.de or <http://a-b.org/c-d/>, http://x.org/a/",
        "在Python中 索引",
    ],
    "fr": [
        "l'homme d'une qu'il l’élément",
        "Python-Skripte 1991-2020 100% well-known 32-bit",
        "oCell.Formula I/O a=b CA,CO -1 .NET // >> C. end.",
    ],
    "de": [
        "Python-Skripte well-known 32-bit 1991-2020 100%",
        "oCell.Formula I/O a=b CA,CO -1 .NET >> C. end.",
    ],
    "es": [
        "Python-Skripte well-known 32-bit 1991-2020 100%",
        "oCell.Formula I/O a=b CA,CO -1 .NET // >> C. end.",
    ],
    "ru": [
        "Python-Skripte well-known 32-bit 1991-2020 100% it's",
        "oCell.Formula I/O a=b CA,CO -1 .NET // >> C. end. Москва-река",
    ],
}


@pytest.mark.parametrize("lang", sorted(SPACY_CASES))
def test_tokens_equal_spacys_on_each_rule(lang):
    pytest.importorskip("spacy")
    from thresher.scorers import spacy_words

    for text in SPACY_CASES[lang]:
        ours = tu.tokens(pa.array([text]), [lang])[0].to_pylist()
        theirs = spacy_words.tokens(pa.array([text]), lang)[0].to_pylist()
        assert ours == theirs, text
        assert tu.token_counts(pa.array([text]), [lang]).tolist() == [len(theirs)]
    if lang == "en":  # no language column: English
        ours = tu.tokens(pa.array(SPACY_CASES["en"]))[0].to_pylist()
        assert ours == spacy_words.tokens(pa.array(SPACY_CASES["en"]), "en")[0].to_pylist()


def test_token_counts_equal_the_tokens_on_random_text():
    rng = random.Random(5)
    pieces = ["well-known", "a-b-c", "...", "--", "—", "(x)", "x.", "!!", "3.14", "中文", "かな",
              "don't", "http://a.b/c?d", "x-y@a-b.c", "http://a-b/c-d", " ", "  ", "\n", "\u3000", "\xa0", "-中", "a-", "é", "#"]  # fmt: skip
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    counts = tu.per_doc(tu.tokens(pa.array(texts))[1], len(texts))
    assert tu.token_counts(pa.array(texts)).tolist() == counts.tolist()


def test_words_split_at_every_whitespace_character_as_str_split_does():
    # the ASCII split behind `tokens` must still cut at the rarer whitespace characters
    spaces = "\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
    text = "".join(f"w{i}{c}" for i, c in enumerate(spaces)) + "end"
    assert tu.tokens(pa.array([text]))[0].to_pylist() == text.split()
    assert tu.token_counts(pa.array([text])).tolist() == [len(text.split())]


def reference_top(ws, n):
    grams = [" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def reference_repeated(ws, n):
    seen, total, i = set(), 0, 0
    while i < len(ws) - n + 1:
        gram = "".join(ws[i : i + n])
        if gram in seen:
            total, i = total + len(gram), i + n
        else:
            seen.add(gram)
            i += 1
    return total


def test_ngram_kernels_equal_the_definition_on_random_documents():
    rng = random.Random(3)
    texts = [
        " ".join(rng.choice(["a", "b", "c", "dd", "e"]) for _ in range(rng.randint(0, 60)))
        for _ in range(300)
    ]
    toks, parent = tu.tokens(pa.array(texts))
    per_doc = [[] for _ in texts]
    for t, p in zip(toks.to_pylist(), parent.tolist(), strict=True):
        per_doc[p].append(t)
    grams = tu.NGrams(toks, parent, len(texts))
    for n in (2, 3, 4):
        assert grams.top_chars(n).tolist() == [reference_top(w, n) for w in per_doc]
    for n in (5, 7, 10):
        assert grams.repeated_chars(n).tolist() == [reference_repeated(w, n) for w in per_doc]


@pytest.mark.parametrize("seed", range(4))
def test_ngram_kernels_equal_the_definition_on_repetitive_documents(seed):
    """Documents made of repeated phrases and runs (repeats closer than n tokens, first
    occurrences inside a skipped stretch): the vectorised path and the per-document scan
    both against the plain definitions, every n from 2 to 10, in the order gopher_repetition
    asks and again from a smaller n (which starts over)."""
    rng = random.Random(seed)
    vocab = ["a", "b", "c", "dd", "e", "fff", "."]  # prefix-free: "".join stays unambiguous
    texts = []
    for _ in range(400):
        phrases = [[rng.choice(vocab[: rng.randint(2, 7)]) for _ in range(rng.randint(1, 12))]
                   for _ in range(rng.randint(1, 4))]  # fmt: skip
        words = []
        target = rng.randint(0, 120)
        while len(words) < target:
            words += rng.choice(phrases) if rng.random() < 0.7 else [rng.choice(vocab)]
        texts.append(" ".join(words))
    toks, parent = tu.tokens(pa.array(texts))
    per_doc = [[] for _ in texts]
    for t, p in zip(toks.to_pylist(), parent.tolist(), strict=True):
        per_doc[p].append(t)
    grams = tu.NGrams(toks, parent, len(texts))
    for n in range(2, 11):
        assert grams.top_chars(n).tolist() == [reference_top(w, n) for w in per_doc], n
        assert grams.repeated_chars(n).tolist() == [reference_repeated(w, n) for w in per_doc]
    for n in (3, 6):
        assert grams.repeated_chars(n).tolist() == [reference_repeated(w, n) for w in per_doc]
        assert grams.top_chars(n).tolist() == [reference_top(w, n) for w in per_doc], n


def test_ngrams_are_exact_not_hashed():
    """Equal n-grams are equal token sequences of one document: no two different ones share
    an id (each step ranks (previous id, token id) exactly)."""
    rng = random.Random(11)
    texts = [
        " ".join(f"w{rng.randint(0, 40)}" for _ in range(rng.randint(0, 80))) for _ in range(200)
    ]
    toks, parent = tu.tokens(pa.array(texts))
    words = toks.to_pylist()
    grams = tu.NGrams(toks, parent, len(texts))
    for n in (2, 5, 10):
        starts, group, counts, first, g_doc = grams._groups(n)
        seen = {}
        for s, g in zip(starts.tolist(), group.tolist(), strict=True):
            key = (parent[s], tuple(words[s : s + n]))
            assert seen.setdefault(g, key) == key
        assert len(set(seen.values())) == len(seen) == len(counts)
        assert np.bincount(group, minlength=len(counts)).tolist() == counts.tolist()
        earliest = {}
        for s, g in zip(starts.tolist(), group.tolist(), strict=True):
            earliest.setdefault(g, s)
        assert first.tolist() == [earliest[g] for g in range(len(counts))]
        assert g_doc.tolist() == parent[first].tolist() == sorted(g_doc.tolist())


# --- Gopher quality -------------------------------------------------------------------


def test_word_count_bounds():
    base = {"gopher_quality": {"min_doc_words": 50, "max_doc_words": 60, "min_stop_words": None}}
    assert verdict(words(49, "the"), **base) == "gopher_quality.word_count"
    assert verdict(words(50, "the"), **base) is None
    assert verdict(words(60, "the"), **base) is None
    assert verdict(words(61, "the"), **base) == "gopher_quality.word_count"


def test_mean_word_length_bounds():
    cfg = {"gopher_quality": {"min_doc_words": 1, "min_stop_words": None}}
    assert verdict(words(60, "ab"), **cfg) == "gopher_quality.mean_word_length"
    assert verdict(words(60, "abc"), **cfg) is None  # exactly 3 stays
    assert verdict(words(60, "abcdefghij"), **cfg) is None  # exactly 10 stays
    assert verdict(words(60, "abcdefghijk"), **cfg) == "gopher_quality.mean_word_length"


def test_hash_and_ellipsis_ratio():
    cfg = {"gopher_quality": {"min_doc_words": 1, "min_stop_words": None}}
    # 90 words + 10 '#' tokens = 100 tokens: 10 / 100 = 0.1 is not above 0.1
    assert verdict(words(90, "word") + " #" * 10, **cfg) is None
    assert verdict(words(90, "word") + " #" * 11, **cfg) == "gopher_quality.hash_ratio"
    assert verdict(words(90, "word") + " …" * 11, **cfg) == "gopher_quality.ellipsis_ratio"


def test_bullet_and_ellipsis_lines():
    cfg = {"gopher_quality": {"min_doc_words": 1, "min_stop_words": None}}
    nine = "\n".join(["- item words here and more words"] * 9 + ["plain line of words"])
    assert verdict(nine, **cfg) is None  # 9/10 = 0.9 is not above 0.9
    assert (
        verdict("\n".join(["• item words here and more words"] * 10), **cfg)
        == "gopher_quality.bullet_lines"
    )
    three = "\n".join(
        ["many words that trail off into nothing..."] * 3
        + ["a complete line of many words here."] * 7
    )
    assert verdict(three, **cfg) is None  # 0.3
    four = "\n".join(
        ["many words that trail off into nothing…"] * 4
        + ["a complete line of many words here."] * 6
    )
    assert verdict(four, **cfg) == "gopher_quality.ellipsis_lines"


def test_alpha_words_and_stop_words():
    cfg = {"gopher_quality": {"min_doc_words": 1, "min_avg_word_length": None}}
    # words with letters among 100 tokens: 80 (0.8) stays, 79 drops
    assert verdict(words(79, "the") + " and" + " 1234" * 20, **cfg) is None
    assert verdict(words(78, "the") + " and" + " 1234" * 21, **cfg) == "gopher_quality.alpha_words"
    assert verdict(words(60, "the"), **cfg) == "gopher_quality.stop_words"  # 1 distinct
    assert verdict(words(30, "the") + " " + words(30, "and"), **cfg) is None


def test_stop_words_follow_the_language_column():
    cfg = qf.QualityFiltersConfig(gopher_quality={"min_doc_words": 1})
    texts = ["der Hund " * 40, "der Hund " * 40, "猫が寝ている。" * 20]
    table = qf.measure(cfg, pa.table({"id": ["a", "b", "c"], "text": texts}), ["en", "de", "ja"])
    stop = table.column("gopher_quality_stop_words").to_pylist()
    assert stop[0] == 0 and stop[1] is None  # no German list: the rule does not apply
    assert table.column("gopher_quality_mean_word_length").to_pylist()[2] is None  # no spaces
    assert table.column("language").to_pylist() == ["en", "de", "ja"]
    assert list(qf.decide(cfg, table)) == ["gopher_quality.stop_words", None, None]


# --- Gopher repetition ----------------------------------------------------------------


def rep(text, **params):
    off = {name: None for name in qf.GopherRepetition.model_fields}
    return verdict(text, gopher_repetition={**off, **params})


def test_duplicate_lines_and_paragraphs():
    lines = [f"line number {w} here" for w in "abcdefghij"]
    three = "\n".join(lines[:7] + lines[:3])  # 3 of 10 lines repeat
    assert rep(three, dup_line_frac=0.3) is None
    assert (
        rep("\n".join(lines[:6] + lines[:4]), dup_line_frac=0.3)
        == "gopher_repetition.dup_line_frac"
    )
    paras = "\n\n".join(lines[:6] + lines[:4])
    assert rep(paras, dup_para_frac=0.3) == "gopher_repetition.dup_para_frac"
    text = "\n".join(lines[:6] + lines[:4])
    m = qm.gopher_repetition(pa.array([text]))
    assert m["gopher_repetition_dup_line_char_frac"][0] == pytest.approx(
        sum(len(x) for x in lines[:4]) / len(text)
    )


def test_top_and_duplicate_ngrams():
    text = "alpha beta " * 10 + "gamma delta epsilon zeta eta theta iota kappa"
    m = qm.gopher_repetition(pa.array([text]))
    top2 = m["gopher_repetition_top_2_gram_char_frac"][0]
    assert top2 == pytest.approx(len("alpha beta") * 10 / len(text))
    assert rep(text, top_2_gram_char_frac=top2) is None  # at the threshold it stays
    assert rep(text, top_2_gram_char_frac=top2 - 1e-9) == "gopher_repetition.top_2_gram_char_frac"
    dup5 = m["gopher_repetition_dup_5_gram_char_frac"][0]
    assert (
        dup5 > 0.15
        and rep(text, dup_5_gram_char_frac=0.15) == "gopher_repetition.dup_5_gram_char_frac"
    )


# --- C4 and FineWeb -------------------------------------------------------------------


def test_c4_rules():
    five = " ".join(["This is a sentence."] * 5)
    assert verdict(five, c4={}) is None
    assert verdict(" ".join(["This is a sentence."] * 4), c4={}) == "c4.min_sentences"
    assert verdict(five + "\nLorem ipsum dolor sit amet.", c4={}) == "c4.lorem_ipsum"
    assert verdict(five + "\nlorem ipsum dolor sit amet", c4={}) is None  # line not kept
    assert verdict(five + "\nThe set {a, b} is here.", c4={}) == "c4.curly_bracket"
    assert verdict(five + "\nThe set {a, b} is here.", c4={"filter_curly_bracket": False}) is None
    # lines C4 would delete do not count: no terminal punctuation, under 3 words, javascript
    deleted = "\n".join(["no end mark here", "Too short.", "Enable javascript to see this. Now."])
    assert verdict(deleted + "\n" + " ".join(["A b c."] * 4), c4={}) == "c4.min_sentences"


def test_fineweb_rules():
    ok = "\n".join(["This is a reasonably long line that ends well."] * 1)
    assert verdict(ok, fineweb={"new_line_ratio": None}) is None
    no_punct = "\n".join([f"line {i} without a final mark at all here" for i in range(9)] + [ok])
    assert verdict(no_punct, fineweb={"line_punct_thr": 0.1, "new_line_ratio": None}) is None
    assert verdict(no_punct, fineweb={"line_punct_thr": 0.11}) == "fineweb.line_punct_ratio"
    short = "\n".join([f"Short {i}." for i in range(2)] + [ok + f" {i}." for i in range(1)])
    assert verdict(short, fineweb={"short_line_thr": 0.67, "new_line_ratio": None}) is None
    assert verdict(short, fineweb={"short_line_thr": 0.66}) == "fineweb.short_line_ratio"
    dup = "\n".join([ok, ok + " More words.", ok])
    assert verdict(dup, fineweb={"new_line_ratio": None}) == "fineweb.char_dup_ratio"
    listy = "\n".join(f"Item number {i} is here." for i in range(5))  # 4 breaks / 30 words
    m = qm.fineweb(pa.array([listy]))
    assert m["fineweb_list_ratio"][0] == pytest.approx(4 / 30)
    listy_only = {"short_line_thr": None, "new_line_ratio": 4 / 30 - 1e-9}
    assert verdict(listy, fineweb=listy_only) == "fineweb.list_ratio"


def test_config_needs_a_rule_set_and_knows_every_reason():
    with pytest.raises(ValueError, match="name at least one rule set"):
        qf.QualityFiltersConfig()
    assert "gopher_quality.word_count" in qf.REASONS and "fineweb.list_ratio" in qf.REASONS
    assert len(qf.REASONS) == len(set(qf.REASONS)) == 8 + 13 + 3 + 4


# --- the stage ------------------------------------------------------------------------


def documents(directory, texts, parts=2):
    rows = [
        {"id": f"d{i:03d}", "source": "s", "text": t, "n_chars": len(t), "file": "f", "line": i,
         "metadata": None}
        for i, t in enumerate(texts)
    ]  # fmt: skip
    for p in range(parts):
        chunk = rows[p::parts]
        io.write_parquet(
            pa.Table.from_pylist(chunk, schema=schemas.DOCUMENTS),
            directory / f"part-{p:05d}-00000.parquet",
        )
    return rows


def varied_prose(seed: int, sentences: int = 8) -> str:
    """Sentences of random words with English stop words: passes every default rule."""
    rng = random.Random(seed)
    vocab = [
        "river",
        "stone",
        "garden",
        "window",
        "morning",
        "letter",
        "travel",
        "market",
        "winter",
        "silver",
    ]
    stop = ["the", "of", "and", "to", "with", "that", "have", "be"]
    out = []
    for _ in range(sentences):
        ws = [rng.choice(vocab if i % 2 else stop) for i in range(rng.randint(8, 14))]
        out.append(" ".join(ws).capitalize() + ".")
    return " ".join(out)


def mixed_texts():
    good = varied_prose(1)
    lines = "\n".join([PROSE] * 8)
    return [good, "too short.", lines, good + " {x}.", "# " * 80 + good, varied_prose(2)] * 3


def make_run(tmp_path):
    ctx = StageContext(run_dir=tmp_path / "run")
    rows = documents(ctx.run_dir / "documents" / "stage=ingest", mixed_texts())
    stats = {"stage": "ingest", "in": len(rows), "kept": len(rows), "fingerprint": "f0"}
    io.write_json(stats, ctx.stats_path("ingest"))
    return ctx, rows


def all_sets(**over):
    return qf.QualityFiltersConfig(**{**{s: {} for s in qf.RULE_SETS}, **over})


def test_stage_attributes_reasons_and_rethreshold_reuse(tmp_path):
    ctx, rows = make_run(tmp_path)
    cfg = all_sets()
    stats = qf.run(ctx, cfg, "documents/stage=ingest", "ingest")
    attrs_dir = ctx.run_dir / "attributes" / "quality_filters"
    attrs = io.read_table(sorted(attrs_dir.glob("part-*.parquet")))
    # one row per input document, every measure a column
    assert sorted(attrs.column("id").to_pylist()) == [r["id"] for r in rows]
    assert {"gopher_quality_words", "c4_sentences", "fineweb_list_ratio"} <= set(attrs.column_names)
    # every reason of the configured rules is in the stats, and the counts add up
    assert set(stats["dropped"]) == set(qf.REASONS)
    assert stats["in"] == len(rows) == stats["kept"] + sum(stats["dropped"].values())
    filtered = io.read_table(
        sorted((ctx.run_dir / "filtered" / "quality_filters").glob("*.parquet"))
    )
    assert Counter(filtered.column("reason").to_pylist()) == +Counter(stats["dropped"])
    assert stats["attributes_reused"] is False
    # the drops equal the decision recomputed from the attributes alone
    assert sum(r is not None for r in qf.decide(cfg, attrs)) == filtered.num_rows
    inodes = {p.name: p.stat().st_ino for p in attrs_dir.glob("part-*.parquet")}

    # only a threshold changes: attributes are linked, not measured again
    no_repetition = {name: None for name in qf.GopherRepetition.model_fields}
    looser = all_sets(c4={"filter_curly_bracket": False}, gopher_repetition=no_repetition)
    again = qf.run(ctx, looser, "documents/stage=ingest", "ingest")
    assert again["attributes_reused"] is True and not again["skipped"]
    assert {p.name: p.stat().st_ino for p in attrs_dir.glob("part-*.parquet")} == inodes
    assert again["kept"] > stats["kept"]
    assert again["in"] == again["kept"] + sum(again["dropped"].values())

    # a measuring setting changes: measured again
    other = all_sets(fineweb={"short_line_length": 10})
    third = qf.run(ctx, other, "documents/stage=ingest", "ingest")
    assert third["attributes_reused"] is False


def test_stage_reads_language_attributes_when_language_id_ran(tmp_path):
    ctx, rows = make_run(tmp_path)
    for part in sorted((ctx.run_dir / "documents" / "stage=ingest").glob("*.parquet")):
        ids = io.read_table([part], columns=["id"]).column("id")
        langs = pa.table(
            {"id": ids, "language": ["de"] * len(ids), "language_score": [1.0] * len(ids)}
        )
        io.write_parquet(langs, ctx.run_dir / attributes.LANGUAGE_ATTRIBUTES / part.name)
    io.write_json({"stage": "language_id", "in": len(rows), "kept": len(rows), "fingerprint": "l1"},
                  ctx.stats_path("language_id"))  # fmt: skip
    cfg = qf.QualityFiltersConfig(gopher_quality={})
    stats = qf.run(ctx, cfg, "documents/stage=ingest - filtered/language_id", "language_id")
    assert stats["uses_language"] is True
    attrs = io.read_table(
        sorted((ctx.run_dir / "attributes" / "quality_filters").glob("*.parquet"))
    )
    assert set(attrs.column("language").to_pylist()) == {"de"}
    # no German stop-word list: that rule never fires
    assert stats["dropped"]["gopher_quality.stop_words"] == 0


def test_fingerprint_helper_is_stable():
    assert fingerprint("a", {"b": 1}) == fingerprint("a", {"b": 1})
    assert np.isnan(attributes.first_rule_fired(pa.table({"x": [np.nan]}), [])[0] or np.nan)


def test_curate_flow_runs_both_stages_and_queries_attributes(tmp_path, cli, jsonl, prefect_api):
    texts = [*mixed_texts(), "Der Hund schläft im Garten, und die Katze sitzt auf dem Dach."]
    jsonl(
        tmp_path / "in" / "docs.jsonl",
        [{"id": f"x{i:03d}", "text": t} for i, t in enumerate(texts)],
    )
    cfg = tmp_path / "run.yaml"
    cfg.write_text("language_id: {keep: [en]}\nquality_filters: {gopher_repetition: {}, c4: {}}\n")
    out = tmp_path / "out"
    rc, _, err = cli(
        "run", "--input", tmp_path / "in", "--out", out, "--config", cfg, "--run-id", "r1"
    )
    assert rc == 0, err
    run = io.read_json(out / "runs" / "r1" / "run.json")
    assert {"language_id", "quality_filters", "near_dedup"} <= set(run["stages"])
    sql = (
        "SELECT (SELECT count(*) FROM attributes_quality_filters) AS measured, "
        "(SELECT count(*) FILTER (WHERE gopher_repetition_dup_line_frac > 0.25) "
        " FROM attributes_quality_filters) AS would_drop, "
        "(SELECT count(*) FROM filtered WHERE stage = 'language_id') AS not_english, "
        "(SELECT count(*) FROM documents) AS documents"
    )
    rc, text, err = cli("query", "--out", out, "--format", "json", sql)
    assert rc == 0, err
    row = __import__("json").loads(text)[0]
    stats = io.read_json(out / "runs" / "r1" / "stats" / "quality_filters.json")
    assert row["measured"] == stats["in"] and row["would_drop"] >= 1 and row["not_english"] >= 1
    near = io.read_json(out / "runs" / "r1" / "stats" / "near_dedup.json")
    assert near["in"] == stats["kept"] and row["documents"] == near["kept"]  # read after both


# --- dictionary word segmenters (optional packages) -----------------------------------


def test_word_segmenters_give_the_documents_of_their_language_dictionary_words():
    jieba = pytest.importorskip("jieba")
    texts = ["数据处理很重要。我们住在北京，天气很好。\n" * 3, "the cat sat on the mat.\n" * 3]
    docs = pa.table({"id": ["zh", "en"], "text": texts})
    langs = ["zh", "en"]
    sets = {"gopher_quality": {}, "gopher_repetition": {}, "fineweb": {}}
    plain = qf.measure(qf.QualityFiltersConfig(**sets), docs, langs)
    cfg = qf.QualityFiltersConfig(**sets, word_segmenters={"zh": "jieba"})
    cut = qf.measure(cfg, docs, langs)
    words = [w.strip() for w in jieba.cut(texts[0]) if w.strip()]
    symbols = sum(all(not c.isalnum() for c in w) for w in words)
    assert cut["gopher_quality_words"][0].as_py() == len(words) - symbols < 40
    assert plain["gopher_quality_words"][0].as_py() == 51  # one word per Han character
    assert cut["fineweb_list_ratio"][0].as_py() == 3 / len(words)
    # a document in another language is measured as before
    assert cut.slice(1).to_pylist() == plain.slice(1).to_pylist()
    # FineWeb alone counts the same words as with the others
    alone = qf.measure(
        qf.QualityFiltersConfig(fineweb={}, word_segmenters={"zh": "jieba"}), docs, langs
    )
    assert alone["fineweb_list_ratio"].to_pylist() == cut["fineweb_list_ratio"].to_pylist()
    # settings that change words change the measure fingerprint (no reuse of old attributes)
    assert qf.measure_settings(cfg) != qf.measure_settings(qf.QualityFiltersConfig(**sets))


def test_sudachi_pieces_and_missing_segmenter_is_one_line(monkeypatch):
    from thresher.scorers import segmenters
    from thresher.scorers.errors import ConfigError

    text = "日本語のテキスト。" * 3000  # 81,000 bytes: over Sudachi's input limit
    pieces = segmenters._byte_pieces(text, segmenters.SUDACHI_MAX_BYTES)
    assert "".join(pieces) == text and all(len(p.encode()) <= 40_000 for p in pieces)
    if pytest.importorskip("sudachipy"):
        assert "".join(segmenters.load("sudachi")(text)) == text.replace(" ", "")

    def missing():
        raise ImportError("no jieba")

    segmenters.load.cache_clear()
    monkeypatch.setitem(segmenters._LOADERS, "jieba", missing)
    with pytest.raises(ConfigError, match="pip install jieba") as err:
        qf.check(qf.QualityFiltersConfig(c4={}, word_segmenters={"zh": "jieba"}))
    assert "\n" not in str(err.value)
    segmenters.load.cache_clear()
    with pytest.raises(Exception, match="jieba"):
        qf.QualityFiltersConfig(c4={}, word_segmenters={"zh": "pkuseg"})
