"""Heuristic quality filters stage: the named rule sets (Gopher quality, Gopher repetition,
C4, FineWeb) at their published defaults, as attributes first and a decision second.

Plan: documents part -> every measure of every named rule set for batches of documents
(scorers.quality_measures: Arrow/numpy over the batch; words split per the language
column when language ID ran upstream) -> `attributes/quality_filters/<part>` (id + one
column per measure) -> the rules, in order, against their thresholds; the first that fires
names the drop reason (`gopher_quality.word_count`) -> `filtered/quality_filters/<part>`.
Changing only thresholds reuses the attributes (pipelines.attributes).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from thresher.pipelines import attributes
from thresher.pipelines.docsets import DocSet
from thresher.pipelines.stage import Stage, StageContext
from thresher.scorers import quality_measures as qm
from thresher.scorers import segmenters, spacy_words
from thresher.scorers import text_units as tu

STAGE = "quality_filters"
RULE_SETS = ("gopher_quality", "gopher_repetition", "c4", "fineweb")
_STRICT = ConfigDict(extra="forbid")
_NONNEG = {"ge": 0}


class GopherQuality(BaseModel):
    """Gopher (Rae et al. 2021, Table A1) quality rules; null turns a rule off."""

    model_config = _STRICT
    min_doc_words: int | None = Field(50, description="fewer words than this drops", **_NONNEG)
    max_doc_words: int | None = Field(100_000, description="more words drops", **_NONNEG)
    min_avg_word_length: float | None = Field(3, description="shorter mean word drops", **_NONNEG)
    max_avg_word_length: float | None = Field(10, description="longer mean word drops", **_NONNEG)
    max_symbol_word_ratio: float | None = Field(
        0.1, description="'#' or '...' per word above this drops", **_NONNEG
    )
    max_bullet_lines_ratio: float | None = Field(
        0.9, description="share of lines starting with a bullet (•, -) above this drops", **_NONNEG
    )
    max_ellipsis_lines_ratio: float | None = Field(
        0.3, description="share of lines ending in an ellipsis above this drops", **_NONNEG
    )
    min_alpha_words_ratio: float | None = Field(
        0.8, description="share of words with a letter below this drops", **_NONNEG
    )
    min_stop_words: int | None = Field(
        2, description="fewer distinct stop words of the document's language drops", **_NONNEG
    )
    stop_words: dict[str, list[str]] = Field(
        default_factory=lambda: dict(qm.GOPHER_STOP_WORDS),
        description="stop words per language (documents in a language without a list skip the rule)",
    )


class GopherRepetition(BaseModel):
    """Gopher repetition rules (Table A1): shares of repeated lines, paragraphs, n-grams."""

    model_config = _STRICT
    dup_para_frac: float | None = Field(0.3, description="repeated paragraphs share", **_NONNEG)
    dup_para_char_frac: float | None = Field(0.2, description="their characters' share", **_NONNEG)
    dup_line_frac: float | None = Field(0.3, description="repeated lines share", **_NONNEG)
    dup_line_char_frac: float | None = Field(0.2, description="their characters' share", **_NONNEG)
    top_2_gram_char_frac: float | None = Field(0.2, description="top 2-gram characters", **_NONNEG)
    top_3_gram_char_frac: float | None = Field(0.18, description="top 3-gram characters", **_NONNEG)
    top_4_gram_char_frac: float | None = Field(0.16, description="top 4-gram characters", **_NONNEG)
    dup_5_gram_char_frac: float | None = Field(0.15, description="repeated 5-grams", **_NONNEG)
    dup_6_gram_char_frac: float | None = Field(0.14, description="repeated 6-grams", **_NONNEG)
    dup_7_gram_char_frac: float | None = Field(0.13, description="repeated 7-grams", **_NONNEG)
    dup_8_gram_char_frac: float | None = Field(0.12, description="repeated 8-grams", **_NONNEG)
    dup_9_gram_char_frac: float | None = Field(0.11, description="repeated 9-grams", **_NONNEG)
    dup_10_gram_char_frac: float | None = Field(0.10, description="repeated 10-grams", **_NONNEG)


class C4(BaseModel):
    """C4 (Raffel et al. 2020) rules, as documents are judged after C4's line removal
    (Thresher never rewrites text: the lines C4 would delete stay)."""

    model_config = _STRICT
    min_num_sentences: int | None = Field(
        5, description="fewer sentences in the lines C4 keeps drops", **_NONNEG
    )
    filter_lorem_ipsum: bool = Field(True, description="'lorem ipsum' in a kept line drops")
    filter_curly_bracket: bool = Field(True, description="'{' in a kept line drops")
    min_words_per_line: int = Field(3, description="lines with fewer words are not kept", **_NONNEG)
    max_word_length: int = Field(1000, description="lines with a longer word are not kept", ge=1)
    remove_citations: bool = Field(True, description="strip [1], [edit], [citation needed]")
    filter_no_terminal_punct: bool = Field(True, description="keep only lines ending . ? ! \" '")
    filter_javascript: bool = Field(True, description="lines mentioning javascript are not kept")
    filter_policy: bool = Field(True, description="cookie / terms-of-use lines are not kept")


class FineWeb(BaseModel):
    """FineWeb's own rules (Penedo et al. 2024)."""

    model_config = _STRICT
    line_punct_thr: float | None = Field(
        0.12,
        description="share of lines ending in sentence punctuation below this drops",
        **_NONNEG,
    )
    short_line_thr: float | None = Field(
        0.67, description="share of short lines above this drops", **_NONNEG
    )
    short_line_length: int = Field(30, description="a line this long or shorter is short", ge=0)
    char_duplicates_ratio: float | None = Field(
        0.01, description="share of characters in repeated lines above this drops", **_NONNEG
    )
    new_line_ratio: float | None = Field(
        0.3, description="line breaks per word above this drops", **_NONNEG
    )


class QualityFiltersConfig(BaseModel):
    """Name the rule sets to run (`gopher_quality: {}` runs it at the published defaults)."""

    model_config = _STRICT
    gopher_quality: GopherQuality | None = Field(None, description="Gopher quality rules")
    gopher_repetition: GopherRepetition | None = Field(None, description="Gopher repetition rules")
    c4: C4 | None = Field(None, description="C4 rules")
    fineweb: FineWeb | None = Field(None, description="FineWeb rules")
    batch_size: int = Field(500, ge=1, le=100_000, description="documents measured at once")
    word_segmenters: dict[str, Literal["jieba", "sudachi"]] = Field(
        default_factory=dict,
        description="dictionary word segmenter per language code, used when language_id ran "
        "(e.g. {zh: jieba, ja: sudachi}; needs `pip install jieba` / `sudachipy "
        "sudachidict-core`); default: one word per character for scripts without spaces",
    )
    word_tokenizer: Literal["regex", "spacy"] = Field(
        "regex",
        description="words for gopher_quality, gopher_repetition and fineweb: regex (Thresher's "
        "batch rules, fast) or spacy (spaCy's blank tokenizer of each document's language, as "
        "datatrove counts words; needs `pip install 'thresher[spacy]'`; word_segmenters still "
        "cut their languages)",
    )

    @model_validator(mode="after")
    def _some_rule_set(self):
        if not self.sets():
            raise ValueError(f"name at least one rule set ({', '.join(RULE_SETS)}), e.g. c4: {{}}")
        return self

    def sets(self) -> list[str]:
        return [s for s in RULE_SETS if getattr(self, s) is not None]


def _rules(cfg: QualityFiltersConfig) -> list[tuple[str, str, float | None, float | None]]:
    """(reason, measure column, low, high) of every configured rule, in the order they apply."""
    rules = []
    if (g := cfg.gopher_quality) is not None:
        p = "gopher_quality_"
        rules += [
            ("gopher_quality.word_count", p + "words", g.min_doc_words, g.max_doc_words),
            ("gopher_quality.mean_word_length", p + "mean_word_length",
             g.min_avg_word_length, g.max_avg_word_length),
            ("gopher_quality.hash_ratio", p + "hash_ratio", None, g.max_symbol_word_ratio),
            ("gopher_quality.ellipsis_ratio", p + "ellipsis_ratio", None, g.max_symbol_word_ratio),
            ("gopher_quality.bullet_lines", p + "bullet_lines_ratio", None, g.max_bullet_lines_ratio),
            ("gopher_quality.ellipsis_lines", p + "ellipsis_lines_ratio",
             None, g.max_ellipsis_lines_ratio),
            ("gopher_quality.alpha_words", p + "alpha_words_ratio", g.min_alpha_words_ratio, None),
            ("gopher_quality.stop_words", p + "stop_words", g.min_stop_words, None),
        ]  # fmt: skip
    if (r := cfg.gopher_repetition) is not None:
        for name in GopherRepetition.model_fields:
            rules.append(
                (f"gopher_repetition.{name}", f"gopher_repetition_{name}", None, getattr(r, name))
            )
    if (c := cfg.c4) is not None:
        rules += [
            ("c4.lorem_ipsum", "c4_lorem_ipsum", None, 0 if c.filter_lorem_ipsum else None),
            ("c4.curly_bracket", "c4_curly_bracket", None, 0 if c.filter_curly_bracket else None),
            ("c4.min_sentences", "c4_sentences", c.min_num_sentences, None),
        ]
    if (f := cfg.fineweb) is not None:
        rules += [
            ("fineweb.line_punct_ratio", "fineweb_line_punct_ratio", f.line_punct_thr, None),
            ("fineweb.short_line_ratio", "fineweb_short_line_ratio", None, f.short_line_thr),
            ("fineweb.char_dup_ratio", "fineweb_char_dup_ratio", None, f.char_duplicates_ratio),
            ("fineweb.list_ratio", "fineweb_list_ratio", None, f.new_line_ratio),
        ]
    return [r for r in rules if r[2] is not None or r[3] is not None]


def _all_reasons() -> tuple[str, ...]:
    every = QualityFiltersConfig(**{s: {} for s in RULE_SETS})
    return tuple(dict.fromkeys(r[0] for r in _rules(every)))


REASONS = _all_reasons()


def measure(cfg: QualityFiltersConfig, docs: pa.Table, languages) -> pa.Table:
    texts = docs.column("text").combine_chunks()
    columns: dict[str, np.ndarray] = {}
    # the word tokens are the costly part of three rule sets: cut the batch into them once
    uses_tokens = [cfg.gopher_quality, cfg.gopher_repetition, cfg.fineweb]
    words_of = _segmented(cfg, texts, languages) if any(uses_tokens) else {}
    toks = None
    if cfg.word_tokenizer == "spacy" and any(uses_tokens):
        toks = _spacy_tokens(texts, languages, words_of)
    elif cfg.gopher_quality is not None or cfg.gopher_repetition is not None:
        toks = tu.tokens_with(texts, words_of, languages)
    if cfg.gopher_quality is not None:
        columns |= qm.gopher_quality(texts, languages, cfg.gopher_quality.stop_words, tokens=toks)
    if cfg.gopher_repetition is not None:
        columns |= qm.gopher_repetition(texts, tokens=toks)
    if (c := cfg.c4) is not None:
        columns |= qm.c4(texts, **c.model_dump(include=set(_C4_MEASURING)))
    if cfg.fineweb is not None:
        counts = None
        if toks is None:  # FineWeb alone needs only how many words
            counts = tu.token_counts(texts, languages)
            counts[list(words_of)] = [len(w) for w in words_of.values()]
        columns |= qm.fineweb(texts, cfg.fineweb.short_line_length, tokens=toks, word_counts=counts)
    table = {"id": docs.column("id")}
    if languages is not None:
        table["language"] = pa.array(languages, pa.string())
    table |= {k: pa.array(v, pa.float64(), from_pandas=True) for k, v in columns.items()}
    return pa.table(table)


def _segmented(cfg: QualityFiltersConfig, texts: pa.Array, languages) -> dict[int, list[str]]:
    """Document index -> words, for the documents whose language has a word segmenter."""
    if not cfg.word_segmenters or languages is None:
        return {}
    out = {}
    for i, lang in enumerate(languages):
        name = cfg.word_segmenters.get(qm.base_language(lang) or "")
        if name is not None:
            out[i] = segmenters.load(name)(texts[i].as_py())
    return out


def _spacy_tokens(texts: pa.Array, languages, words_of: dict[int, list[str]]):
    """Tokens of the batch with word_tokenizer spacy: segmenter words where `words_of` has
    them, regex words for other languages written without spaces, spaCy's tokenizer of the
    document's language (scorers.spacy_words.language_for) for the rest: one tokenizer call
    per language over the distinct whitespace chunks of the batch's documents in it."""
    n = len(texts)
    langs = [qm.base_language(x) for x in languages] if languages is not None else ["en"] * n
    groups: dict[str, list[int]] = {}
    for i, lang in enumerate(langs):
        if i in words_of or lang in qm.NOSPACE_LANGUAGES:
            continue
        groups.setdefault(spacy_words.language_for(lang or "en"), []).append(i)
    given = []
    if words_of:
        cut = np.array(sorted(words_of), dtype=np.int64)
        words = pa.array([w for i in cut.tolist() for w in words_of[i]], pa.large_string())
        given.append(
            (cut, words, np.repeat(np.arange(len(cut)), [len(words_of[i]) for i in cut.tolist()]))
        )
    for code, idx in sorted(groups.items()):
        toks, local = spacy_words.tokens(texts.take(pa.array(idx)), code)
        given.append((np.array(idx, dtype=np.int64), toks, local))
    return tu.tokens_from(texts, given, languages)


_C4_MEASURING = (
    "min_words_per_line",
    "max_word_length",
    "remove_citations",
    "filter_no_terminal_punct",
    "filter_javascript",
    "filter_policy",
)


def measure_settings(cfg: QualityFiltersConfig) -> dict:
    """The settings the measures depend on (thresholds excluded: they only decide)."""
    # method 2: URLs/e-mails with hyphens stay whole; 3: spaCy's affix, infix, contraction
    # and elision rules per language, runs of Han/kana whole outside zh/ja/th... (regex words)
    out: dict = {"sets": cfg.sets(), "method": 3}
    if cfg.word_segmenters:
        out["word_segmenters"] = cfg.word_segmenters
        out["segmenter_versions"] = segmenters.versions(cfg.word_segmenters.values())
    if cfg.word_tokenizer != "regex":  # absent for regex: old attributes stay reusable
        out["word_tokenizer"] = cfg.word_tokenizer
        out["word_tokenizer_version"] = spacy_words.version()
    if cfg.gopher_quality is not None:
        out["stop_words"] = cfg.gopher_quality.stop_words
    if cfg.c4 is not None:
        out["c4"] = cfg.c4.model_dump(include=set(_C4_MEASURING))
    if cfg.fineweb is not None:
        out["short_line_length"] = cfg.fineweb.short_line_length
    return out


def decide(cfg: QualityFiltersConfig, table: pa.Table) -> np.ndarray:
    return attributes.first_rule_fired(table, _rules(cfg))


def run(ctx: StageContext, cfg: QualityFiltersConfig, docs: DocSet | str, upstream: str) -> dict:
    return attributes.run_attribute_stage(
        ctx,
        STAGE,
        docs,
        upstream,
        cfg=cfg,
        measure=measure,
        decide=decide,
        measure_settings=measure_settings(cfg),
        config={STAGE: cfg.model_dump()},
        reasons=tuple(r[0] for r in _rules(cfg)),
        batch_size=cfg.batch_size,
    )


def check(cfg: QualityFiltersConfig) -> None:
    """The named word segmenters and spaCy load (one line naming the package otherwise)."""
    for name in set(cfg.word_segmenters.values()):
        segmenters.load(name)
    if cfg.word_tokenizer == "spacy":
        spacy_words.require()


STAGE_DEF = Stage(
    name=STAGE,
    config=QualityFiltersConfig,
    run=run,
    check=check,
    reads="documents",
    writes=(attributes.attributes_dir(STAGE), attributes.filtered_dir(STAGE)),
    reasons=REASONS,
    passes_on=attributes.passes_on(STAGE),
    optional=True,
    description="heuristic rule sets (gopher_quality, gopher_repetition, c4, fineweb) -> "
    "attributes/quality_filters",
)
