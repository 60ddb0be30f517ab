"""quality_filters.word_tokenizer: spacy: spaCy's blank tokenizer per document language.

Needs the extra `thresher[spacy]` (CI installs it): spaCy is imported at the top, so a
missing package fails these tests instead of skipping them."""

from __future__ import annotations

import random
import sys
import unicodedata
from collections import Counter

import pyarrow as pa
import pytest
import spacy
from test_quality_filters import reference_repeated

from thresher.pipelines import quality_filters as qf
from thresher.scorers import spacy_words
from thresher.scorers import text_units as tu
from thresher.scorers.errors import ConfigError

SETS = {"gopher_quality": {}, "gopher_repetition": {}, "fineweb": {}}
EN = "I don't think it's 136mm. We can't go, it's late.\nThey're here and the cat's home."
FR = "L'homme qu'il aime d'abord est là. C'est l'été, n'est-ce pas?"
DE = "Die Python-Skripte laufen gut, z.B. heute. Das ist gut-gemeint."
ES = "El chico-chica llegó al coche. ¿Dónde está el perro-lobo?"


def reference_top(ws, n):  # as in test_quality_filters: datatrove's definitions
    grams = [" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)]
    return max((len(g) * k for g, k in Counter(grams).most_common(1)), default=0)


def spacy_tokens(text: str, lang: str) -> list[str]:
    """What datatrove's SpaCyTokenizer.word_tokenize returns."""
    words = (t.text.strip() for t in spacy.blank(lang)(text))
    return [w for w in words if w]


def measured(texts, langs, **cfg) -> pa.Table:
    docs = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    return qf.measure(qf.QualityFiltersConfig(**SETS, **cfg), docs, langs)


def batch_words(texts, langs) -> list[list[str]]:
    toks, parent = qf._spacy_tokens(pa.array(texts), langs, {})
    out = [[] for _ in texts]
    for t, p in zip(toks.to_pylist(), parent.tolist(), strict=True):
        out[p].append(t)
    return out


def test_spacy_tokens_are_spacys_on_contractions_elisions_and_hyphens():
    texts, langs = [EN, FR, DE, ES], ["en", "fr", "de", "es"]
    got = batch_words(texts, langs)
    assert got == [spacy_tokens(t, lang) for t, lang in zip(texts, langs, strict=True)]
    # the per-language rules the regex words do not copy
    assert got[0][:9] == ["I", "do", "n't", "think", "it", "'s", "136", "mm", "."]
    assert got[1][:8] == ["L'", "homme", "qu'", "il", "aime", "d'", "abord", "est"]
    assert "Python-Skripte" in got[2] and "z.B." in got[2]
    assert "chico-chica" in got[3] and "perro-lobo" in got[3]
    # Thresher's regex words split contractions and elisions too, but not spaCy's unit
    # suffixes (136mm stays whole)
    assert tu.tokens(pa.array([EN]))[0].to_pylist()[:7] == [
        "I",
        "do",
        "n't",
        "think",
        "it",
        "'s",
        "136mm",
    ]
    assert tu.tokens(pa.array([FR]), ["fr"])[0].to_pylist()[:4] == ["L'", "homme", "qu'", "il"]


def is_symbol(token: str) -> bool:
    return token == "..." or all(unicodedata.category(c)[0] in "PS" for c in token)


def test_gopher_and_fineweb_measures_come_from_spacys_tokens():
    texts = [(EN + " ") * 4, (FR + "\n") * 3, DE]
    langs = ["en", "fr", "de"]
    table = measured(texts, langs, word_tokenizer="spacy")
    for i, (text, lang) in enumerate(zip(texts, langs, strict=True)):
        toks = spacy_tokens(text, lang)
        words = [t for t in toks if not is_symbol(t)]
        row = table.slice(i, 1).to_pylist()[0]
        assert row["gopher_quality_words"] == len(words)
        assert row["gopher_quality_mean_word_length"] == pytest.approx(
            sum(map(len, words)) / len(words)
        )
        alpha = sum(any(c.isalpha() for c in t) for t in toks)
        assert row["gopher_quality_alpha_words_ratio"] == pytest.approx(alpha / len(toks))
        for n in (2, 3, 4):
            assert row[f"gopher_repetition_top_{n}_gram_char_frac"] == pytest.approx(
                reference_top(toks, n) / len(text)
            )
        for n in (5, 6, 10):
            assert row[f"gopher_repetition_dup_{n}_gram_char_frac"] == pytest.approx(
                reference_repeated(toks, n) / len(text)
            )
        assert row["fineweb_list_ratio"] == pytest.approx(text.count("\n") / len(toks))
    # the regex words count English differently (don't is one word there)
    regex = measured(texts, langs)
    assert regex["gopher_quality_words"][0] != table["gopher_quality_words"][0]
    # c4 does not use words: unchanged
    c4 = {"c4": {}}
    docs = pa.table({"id": ["a", "b", "c"], "text": texts})
    assert qf.measure(
        qf.QualityFiltersConfig(**c4, word_tokenizer="spacy"), docs, langs
    ) == qf.measure(qf.QualityFiltersConfig(**c4), docs, langs)


def test_languages_without_a_tokenizer_and_without_spaces(monkeypatch):
    # no language column: English, as datatrove's default
    assert batch_words([EN], None) == [spacy_tokens(EN, "en")]
    # a language spaCy lacks, or whose blank tokenizer needs more packages: multilingual xx
    assert spacy_words.language_for("zz") == "xx" and spacy_words.language_for("ko") == "xx"
    assert spacy_words.language_for("vi") == "xx" and spacy_words.language_for("fr") == "fr"
    text = "안녕하세요 세계! don't"
    assert batch_words([text, text], ["ko", "zz"]) == [spacy_tokens(text, "xx")] * 2
    # written without spaces and no segmenter: the regex words (one per character)
    assert batch_words(["数据处理。", EN], ["zh", "en"]) == [
        ["数", "据", "处", "理", "。"],
        spacy_tokens(EN, "en"),
    ]
    # a word segmenter still cuts its language
    monkeypatch.setattr(qf.segmenters, "load", lambda name: lambda text: ["数据", "处理", "。"])
    table = measured(["数据处理。", EN], ["zh", "en"], word_tokenizer="spacy",
                     word_segmenters={"zh": "jieba"})  # fmt: skip
    assert table["gopher_quality_words"].to_pylist() == [
        2,
        len([t for t in spacy_tokens(EN, "en") if not is_symbol(t)]),
    ]


def test_word_tokenizer_is_in_the_measure_fingerprint():
    regex = qf.measure_settings(qf.QualityFiltersConfig(**SETS))
    cut = qf.measure_settings(qf.QualityFiltersConfig(**SETS, word_tokenizer="spacy"))
    assert "word_tokenizer" not in regex  # the default's fingerprint is what it was
    assert cut["word_tokenizer"] == "spacy" and cut["word_tokenizer_version"].startswith("spacy==")
    assert cut != regex
    # thresholds alone still do not change it
    tighter = qf.QualityFiltersConfig(
        gopher_quality={"min_doc_words": 10}, gopher_repetition={}, fineweb={},
        word_tokenizer="spacy",
    )  # fmt: skip
    assert qf.measure_settings(tighter) == cut
    with pytest.raises(Exception, match="regex"):
        qf.QualityFiltersConfig(**SETS, word_tokenizer="nltk")


def test_missing_spacy_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy raises ImportError
    with pytest.raises(ConfigError, match=r"thresher\[spacy\]") as err:
        qf.check(qf.QualityFiltersConfig(c4={}, word_tokenizer="spacy"))
    assert "\n" not in str(err.value)
    qf.check(qf.QualityFiltersConfig(c4={}))  # the default needs no spaCy


def test_distinct_chunks_give_whole_text_tokenization_on_random_text():
    """spacy_words cuts each distinct whitespace chunk once: the same tokens as spaCy on the
    whole text, for every kind of whitespace and the pieces spaCy treats specially."""
    rng = random.Random(11)
    pieces = ["don't", "it's", "l'homme", "qu'il", "well-known", "a-b-c", "...", "--", "(x)",
              "x.", "!!", "3.14", "136mm", "U.S.", "a.m.", ":)", "<3", "http://a.b/c?d",
              "x-y@a-b.c", "中文", "é", "#", "\\tab", "-----~--", " ", "  ", "\n", "\n\n",
              "\t", "\u3000", "\xa0", "\u2028", "\x85", "'s", "n't", "Mr.", "e.g."]  # fmt: skip
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 25))) for _ in range(400)]
    for lang in ("en", "fr", "de", "xx"):
        toks, parent = spacy_words.tokens(texts, lang)
        got = [[] for _ in texts]
        for t, p in zip(toks.to_pylist(), parent.tolist(), strict=True):
            got[p].append(t)
        assert got == [spacy_tokens(t, lang) for t in texts], lang
