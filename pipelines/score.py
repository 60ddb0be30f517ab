"""Score stage: a fastText quality scorer over every document, then selection.

Plan: one element per documents part -> the scorer (loaded once per worker, in setup())
scores it batch by batch -> `scores/<scorer>/part-NNNNN.parquet` (id, score) in the part's
own row order, so output is deterministic without a shuffle. The selection cut is then
computed exactly with DuckDB over every score (a global sort by score, then id; out of
core for large runs), and a second pipeline keeps the documents above the cut ->
`selected/part-NNNNN.parquet` (the documents schema).

Rules: `threshold` keeps score >= t; `keep_top_docs` keeps the first ceil(F * n) documents
by (score desc, id asc); `keep_top_chars` (PreSelect's rule) walks down the same order
until the running sum of characters passes F of all characters (the document that
crosses the line is kept). Rank rules become a (score, id) cut, stored in the stats.
"""

from __future__ import annotations

import gc
import math
import os
import shutil
from fractions import Fraction
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from thresher.pipelines import docsets, io, reasons, schemas
from thresher.pipelines.beam_util import make_pipeline, record_counts
from thresher.pipelines.docsets import DocSet
from thresher.pipelines.records import ReaderSettings, RecordReader
from thresher.pipelines.stage import Stage, StageContext, fingerprint, read_counts, run_stage
from thresher.scorers.fasttext_scorer import FastTextScorer, scorer_name
from thresher.scorers.predict_pool import available_cores

STAGE = "score"
SELECTED_OUT = "selected"
REJECTS_OUT = f"rejects/stage={STAGE}"
RANKED = "_ranked"  # staging-only (score, id, n_chars) table the cut is computed from


class ScoreConfig(BaseModel):
    """Which scorer, and which documents to keep (at most one rule; none: score only)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(..., min_length=1, description="path of a fastText supervised .bin")
    positive_label: str = Field("__label__1", description="score = P(this label)")
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="scorer name for scores/<name>/ (default: the model file's stem)",
    )
    keep_top_chars: float | None = Field(
        None,
        gt=0,
        le=1,
        description="keep the top-scored documents holding this share of characters",
    )
    keep_top_docs: float | None = Field(
        None, gt=0, le=1, description="keep this share of documents"
    )
    threshold: float | None = Field(
        None, ge=0, le=1, description="keep documents with score >= this"
    )
    batch_size: int = Field(2000, ge=1, le=1_000_000, description="documents per fastText call")
    workers: int = Field(
        1,
        ge=1,
        le=256,
        description="local Beam workers; each loads the whole model (PreSelect's is 2.7 GB)",
    )

    @model_validator(mode="after")
    def _one_rule(self):
        rules = [
            r
            for r in ("keep_top_chars", "keep_top_docs", "threshold")
            if getattr(self, r) is not None
        ]
        if len(rules) > 1:
            raise ValueError(f"choose one selection rule, not {' and '.join(rules)}")
        return self

    @property
    def scorer(self) -> str:
        return self.name or scorer_name(self.model)

    @property
    def rule(self) -> str | None:
        for r in ("keep_top_chars", "keep_top_docs", "threshold"):
            if getattr(self, r) is not None:
                return r
        return None


def is_documents_table(path: str) -> bool:
    return io.file_format(path) == "parquet" and set(schemas.DOCUMENTS.names) <= set(
        io.read_parquet_file(path).schema_arrow.names
    )


def read_documents(path: str, batch_size: int, reader: RecordReader, removed=()):
    """Yield (documents, rejects, records seen) batches: a documents table is read as is
    (minus the `removed` id parts, see pipelines.docsets), anything else (JSONL, other
    Parquet) goes through ingest's record rules."""
    if is_documents_table(path):
        for table in docsets.read_batches(path, removed, batch_size):
            yield table, None, table.num_rows
    else:
        yield from reader.read_file(path)


# The scorer the stage's driver loaded, lent to the workers of an in-process runner: its
# threads share that one model and its predict helpers (scorers.predict_pool) instead of
# each loading the file and forking helpers of its own. Keyed by the model file's
# fingerprint; closed when the pipeline ends. A worker in another process loads its own.
_LENT: dict[tuple, FastTextScorer] = {}


def load_scorer(cfg: ScoreConfig) -> FastTextScorer:
    """The model, predicting on this worker's share of the cores."""
    processes = max(1, available_cores() // cfg.workers)
    return FastTextScorer(cfg.model, cfg.positive_label, cfg.scorer, processes=processes)


class ScorePart(beam.DoFn):
    """Score one part. With `cut` (a threshold rule: known before any score is), select its
    documents in the same pass instead of reading the part again (SelectPart)."""

    def __init__(
        self,
        cfg: ScoreConfig,
        staging: str,
        settings: ReaderSettings,
        model_key=(),
        cut: dict | None = None,
    ):
        self.cfg = cfg
        self.staging = staging
        self.settings = settings
        self.model_key = tuple(model_key)
        self.cut = cut

    def setup(self):
        # Once per worker: the released PreSelect model alone is 2.7 GB. fastText holds the
        # GIL while it predicts, so the cores get forked helpers that share this copy of the
        # model (scorers.predict_pool), not threads and not more copies.
        self.scorer = _LENT.get(self.model_key)
        self.owns_scorer = self.scorer is None
        if self.owns_scorer:
            self.scorer = load_scorer(self.cfg)
        self.reader = RecordReader(self.settings)

    def teardown(self):
        if self.owns_scorer:
            self.scorer.close()

    def process(self, element):
        index, path, removed = element
        staging = Path(self.staging)
        scored, ranked, rejects, kept, seen = [], [], [], [], 0
        for docs, rej, n in read_documents(path, self.cfg.batch_size, self.reader, removed):
            seen += n
            if rej is not None and rej.num_rows:
                rejects.append(rej)
            scores = pa.array(
                self.scorer.score_batch(docs.column("text").to_pylist()), pa.float64()
            )
            if self.cut is not None:
                kept.append(docs.filter(passes(self.cut, scores, docs.column("id"))))
            scored.append(
                pa.table({"id": docs.column("id"), "score": scores}, schema=schemas.SCORES)
            )
            ranked.append(
                pa.table(
                    {"score": scores, "id": docs.column("id"), "n_chars": docs.column("n_chars")}
                )
            )
        name = f"part-{index:05d}.parquet"
        if scored:
            io.write_parquet(pa.concat_tables(scored), staging / "scores" / self.cfg.scorer / name)
            io.write_parquet(pa.concat_tables(ranked), staging / RANKED / name)
        n_rejected = sum(t.num_rows for t in rejects)
        if n_rejected:
            io.write_parquet(pa.concat_tables(rejects), staging / REJECTS_OUT / name)
        record_counts(staging, f"score-{index:05d}", {"in": seen, "rejected": n_rejected})
        if self.cut is not None:
            write_selected(staging, index, kept, seen - n_rejected)


class SelectPart(beam.DoFn):
    """Re-read one part, keep the rows above the cut; row order matches its scores part."""

    def __init__(self, cfg: ScoreConfig, staging: str, settings: ReaderSettings, cut: dict):
        self.cfg = cfg
        self.staging = staging
        self.settings = settings
        self.cut = cut

    def setup(self):
        self.reader = RecordReader(self.settings)

    def process(self, element):
        index, path, removed = element
        name = f"part-{index:05d}.parquet"
        scores_path = Path(self.staging) / "scores" / self.cfg.scorer / name
        if not scores_path.exists():
            return
        scores = pq.read_table(scores_path).column("score")
        kept, offset = [], 0
        for docs, _, _ in read_documents(path, self.cfg.batch_size, self.reader, removed):
            s = scores.slice(offset, docs.num_rows)
            offset += docs.num_rows
            kept.append(docs.filter(passes(self.cut, s, docs.column("id"))))
        write_selected(Path(self.staging), index, kept, offset)


def write_selected(staging: Path, index: int, kept: list[pa.Table], scored: int) -> None:
    """One part's selected documents, and its kept / dropped counts out of `scored`."""
    table = pa.concat_tables(kept) if kept else schemas.empty(schemas.DOCUMENTS)
    if table.num_rows:
        io.write_parquet(table, staging / SELECTED_OUT / f"part-{index:05d}.parquet")
    record_counts(
        staging,
        f"select-{index:05d}",
        {
            "kept": table.num_rows,
            "dropped": {reasons.BELOW_QUALITY_THRESHOLD: scored - table.num_rows},
        },
    )


def passes(cut: dict, scores: pa.ChunkedArray, ids: pa.ChunkedArray) -> pa.ChunkedArray:
    """The (score, id) cut: above the score, or at it with an id not after the last kept."""
    if cut.get("last_id") is None:
        return pc.greater_equal(scores, cut["score"])
    at = pc.and_(pc.equal(scores, cut["score"]), pc.less_equal(ids, cut["last_id"]))
    return pc.or_(pc.greater(scores, cut["score"]), at)


def compute_cut(cfg: ScoreConfig, ranked_dir: Path) -> dict:
    """The selection cut and totals, exact, from every (score, id, n_chars) with DuckDB."""
    import duckdb

    con = duckdb.connect(":memory:")
    if not any(ranked_dir.glob("part-*.parquet")):
        return {"score": cfg.threshold or 0.0, "last_id": None, "documents": 0, "chars": 0}
    con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet('{ranked_dir}/part-*.parquet')")
    n, chars = con.execute("SELECT count(*), coalesce(sum(n_chars), 0) FROM r").fetchone()
    summary = {"documents": n, "chars": int(chars)}
    if n:
        row = con.execute(
            "SELECT avg(score), quantile_cont(score, [0.1, 0.5, 0.9]) FROM r"
        ).fetchone()
        summary["score_mean"] = round(row[0], 6)
        summary["score_p10_p50_p90"] = [round(q, 6) for q in row[1]]
    if cfg.rule in (None, "threshold") or n == 0:
        return {"score": cfg.threshold or 0.0, "last_id": None, **summary}
    if cfg.keep_top_docs is not None:
        k = max(1, math.ceil(cfg.keep_top_docs * n - 1e-9))
        sql = f"SELECT score, id FROM r ORDER BY score DESC, id ASC LIMIT 1 OFFSET {k - 1}"
    else:
        # before < F * chars in integers: F as the decimal the user wrote (0.07 is 7/100, not
        # the binary float just above it, which would keep one document too many)
        share = Fraction(repr(cfg.keep_top_chars))
        sql = (
            "SELECT score, id FROM (SELECT score, id, sum(n_chars) OVER (ORDER BY score DESC, "
            "id ASC ROWS UNBOUNDED PRECEDING) - n_chars AS before FROM r) "
            f"WHERE before::HUGEINT * {share.denominator} < {share.numerator}::HUGEINT * {int(chars)} "
            "ORDER BY score ASC, id DESC LIMIT 1"
        )
    score, last_id = con.execute(sql).fetchone()
    return {"score": score, "last_id": last_id, **summary}


def _beam_args(ctx: StageContext, workers: int) -> list[str]:
    args = list(ctx.beam_args)
    if workers > 1 and not any(a.startswith("--direct_num_workers") for a in args):
        args += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    return args


def run(
    ctx: StageContext,
    cfg: ScoreConfig,
    inputs: list[str],
    upstream: list[str],
    removed: dict[str, tuple[str, ...]] | None = None,
) -> dict:
    """Score `inputs` (documents parts, or raw files) and select; outputs under the run.
    `removed`: documents part -> removed-id parts to leave out (see pipelines.docsets)."""
    removed = removed or {}
    elements = [(i, path, removed.get(path, ())) for i, path in enumerate(sorted(inputs))]
    raw = not all(is_documents_table(p) for p in inputs)
    settings = ReaderSettings(batch_size=cfg.batch_size)
    outputs = (
        [f"scores/{cfg.scorer}"]
        + ([SELECTED_OUT] if cfg.rule else [])
        + ([REJECTS_OUT] if raw else [])
    )
    # Scores depend on the model, label and inputs only: a new selection rule reuses them.
    score_print = fingerprint(
        io.file_fingerprint(cfg.model),
        cfg.positive_label,
        cfg.scorer,
        [io.file_fingerprint(p) for p in inputs],
        upstream and ctx.stats(upstream[0]).get("fingerprint"),
    )
    previous = ctx.stats(STAGE) if ctx.stats_path(STAGE).exists() else {}
    reuse = (
        not raw
        and previous.get("score_fingerprint") == score_print
        and (ctx.run_dir / "scores" / cfg.scorer).is_dir()
    )

    def body(staging: Path) -> dict:
        # a threshold is the cut before any score is known: select while scoring
        early_cut = {"score": cfg.threshold, "last_id": None} if cfg.rule == "threshold" else None
        if reuse:
            early_cut = None
            counts = _reuse_scores(
                ctx.run_dir / "scores" / cfg.scorer, staging, elements, cfg.scorer
            )
        else:
            # Load once here first: a missing or wrong label then fails as one clear line
            # (inside a Beam worker the error would come back wrapped in a traceback); the
            # same scorer is lent to in-process workers.
            key = tuple(io.file_fingerprint(cfg.model))
            _LENT[key] = load_scorer(cfg)
            score = ScorePart(cfg, str(staging), settings, key, early_cut)
            try:
                with make_pipeline(_beam_args(ctx, cfg.workers)) as p:
                    (
                        p
                        | "Parts" >> beam.Create(elements)
                        | "Reshuffle" >> beam.Reshuffle()
                        | "Score" >> beam.ParDo(score)
                    )
            finally:
                _LENT.pop(key).close()
                gc.collect()
            counts = {"in": 0, "rejected": 0, **read_counts(staging)}
        # kept / dropped of a selection made while scoring (else of the pass below)
        selected = {k: counts.pop(k) for k in ("kept", "dropped") if k in counts}
        counts.update(score_fingerprint=score_print, scores_reused=reuse)
        cut = compute_cut(cfg, staging / RANKED)
        counts.update(
            kept=cut["documents"], dropped={}, selection=None, scores_summary=_summary(cut)
        )
        if cfg.rule:
            if early_cut is None:
                with make_pipeline(_beam_args(ctx, cfg.workers)) as p:
                    (
                        p
                        | "Parts" >> beam.Create(elements)
                        | "Reshuffle" >> beam.Reshuffle()
                        | "Select" >> beam.ParDo(SelectPart(cfg, str(staging), settings, cut))
                    )
                selected = read_counts(staging)
            counts["kept"] = selected.get("kept", 0)
            counts["dropped"] = {
                reasons.BELOW_QUALITY_THRESHOLD: selected.get("dropped", {}).get(
                    reasons.BELOW_QUALITY_THRESHOLD, 0
                )
            }
            counts["selection"] = {
                "rule": cfg.rule,
                "value": getattr(cfg, cfg.rule),
                "threshold": cut["score"],
                "tie_last_id": cut["last_id"],
                "kept_chars": _kept_chars(staging / SELECTED_OUT),
            }
        return counts

    config = {
        "score": cfg.model_dump(),
        "inputs": [io.file_fingerprint(p) for p in inputs],
        "model_file": io.file_fingerprint(cfg.model),
    }
    return run_stage(ctx, STAGE, config, upstream, outputs, body)


def run_on_docs(ctx: StageContext, cfg: ScoreConfig, docs: DocSet | str, upstream: str) -> dict:
    """The stage inside a run: score the run's document set `docs`, written by `upstream`."""
    docs = DocSet.parse(docs)
    return run(ctx, cfg, docs.part_paths(ctx.run_dir), [upstream], docs.removed_map(ctx.run_dir))


def check(cfg: ScoreConfig) -> None:
    """The model loads, is a supervised classifier and has the positive label."""
    FastTextScorer(cfg.model, cfg.positive_label)
    gc.collect()  # a large model is loaded again by each worker: free this one now


STAGE_DEF = Stage(
    name=STAGE,
    config=ScoreConfig,
    run=run_on_docs,
    reads="documents",
    check=check,
    writes=("scores/<scorer>", SELECTED_OUT),
    reasons=(reasons.BELOW_QUALITY_THRESHOLD,),
    passes_on=lambda docs, cfg: DocSet(SELECTED_OUT) if cfg.rule else docs,
    optional=True,
    description="fastText quality scoring + selection after dedup (needs a model)",
)


def _reuse_scores(published: Path, staging: Path, elements, scorer: str) -> dict:
    """Link the published scores into staging and rebuild the (score, id, n_chars) table
    from them and the documents' n_chars column (same row order: written part by part)."""
    n = 0
    for index, path, removed in elements:
        name = f"part-{index:05d}.parquet"
        src = published / name
        if not src.exists():
            continue
        dst = staging / "scores" / scorer / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:  # another filesystem: copy instead
            shutil.copyfile(src, dst)
        scores = pq.read_table(src)
        lengths = docsets.read_part(path, removed, ["n_chars"]).column("n_chars")
        io.write_parquet(
            pa.table({"score": scores["score"], "id": scores["id"], "n_chars": lengths}),
            staging / RANKED / name,
        )
        n += scores.num_rows
    return {"in": n, "rejected": 0}


def _summary(cut: dict) -> dict:
    return {k: v for k, v in cut.items() if k not in {"score", "last_id"}}


def _kept_chars(directory: Path) -> int:
    parts = list(io.iter_parts(directory))
    return (
        int(pc.sum(io.read_table(parts, columns=["n_chars"]).column("n_chars")).as_py() or 0)
        if parts
        else 0
    )
