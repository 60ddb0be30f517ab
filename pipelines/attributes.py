"""Measure, then decide: the shape of the stages that annotate documents and may drop them
(language ID, heuristic quality filters), as Dolma keeps attributes beside its documents.

Plan: one element per documents part -> measure it batch by batch (text read once, never
rewritten) -> `attributes/<stage>/<part name>` (id + one column per measure, one row per
document read) -> decide from the attributes alone -> `filtered/<stage>/<part name>` (id,
reason: the first rule that fired) for the dropped ones. Later stages read the documents
minus `filtered/<stage>` (see pipelines.docsets), so part names follow the documents parts.

Measuring is the expensive half and depends only on the inputs and the measuring settings
(the `measure_print`); thresholds only enter the decision. So a rerun whose measuring
settings and inputs are unchanged links the published attribute files into the new output
(same inode, not rewritten) and only decides again, as the score stage reuses its scores.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thresher.pipelines import docsets, io
from thresher.pipelines.beam_util import make_pipeline, record_counts
from thresher.pipelines.docsets import DocSet
from thresher.pipelines.stage import StageContext, fingerprint, read_counts, run_stage

FILTERED = pa.schema(
    [pa.field("id", pa.string(), nullable=False), pa.field("reason", pa.string(), nullable=False)]
)
LANGUAGE_ATTRIBUTES = "attributes/language_id"  # the language column other stages may use


def attributes_dir(stage: str) -> str:
    return f"attributes/{stage}"


def filtered_dir(stage: str) -> str:
    return f"filtered/{stage}"


def first_rule_fired(table: pa.Table, rules: list[tuple[str, str, float | None, float | None]]):
    """For each row, the reason of the first rule (reason, column, low, high) whose measure
    is below `low` or above `high`, else None (kept). A missing (NaN/null) measure never fires."""
    reasons = np.full(table.num_rows, None, dtype=object)
    open_ = np.ones(table.num_rows, dtype=bool)
    for reason, column, low, high in rules:
        values = table.column(column).to_numpy(zero_copy_only=False).astype(np.float64)
        with np.errstate(invalid="ignore"):
            fired = np.zeros(len(values), dtype=bool)
            if low is not None:
                fired |= values < low
            if high is not None:
                fired |= values > high
        fired &= open_
        reasons[fired] = reason
        open_ &= ~fired
    return reasons


class MeasureAndDecide(beam.DoFn):
    """A documents part -> its attributes part (measured, or linked from the last run) and
    its filtered part; counts per part.

    `measure(cfg, docs, languages) -> pa.Table` (id first) and `decide(cfg, attributes) ->
    reasons` are module-level functions of the stage, so the DoFn pickles small."""

    def __init__(self, stage, measure, decide, cfg, staging, reuse_from, languages_from, batch):
        self.stage, self.measure, self.decide, self.cfg = stage, measure, decide, cfg
        self.staging, self.reuse_from, self.languages_from = staging, reuse_from, languages_from
        self.batch = batch

    def process(self, element):
        path, removed = element
        name = Path(path).name
        out = Path(self.staging) / attributes_dir(self.stage) / name
        if self.reuse_from:
            _link(Path(self.reuse_from) / name, out)
            table = pq.read_table(out)
        else:
            table = self._measure(path, removed)
            io.write_parquet(table, out)
        reasons = self.decide(self.cfg, table)
        dropped = np.array([r is not None for r in reasons], dtype=bool)
        counts: dict = {}
        if dropped.any():
            gone = pa.table(
                {"id": table.column("id").filter(pa.array(dropped)), "reason": reasons[dropped]},
                schema=FILTERED,
            )
            io.write_parquet(
                gone.sort_by("id"), Path(self.staging) / filtered_dir(self.stage) / name
            )
            for reason, n in zip(
                *np.unique(reasons[dropped].astype(str), return_counts=True), strict=True
            ):
                counts[str(reason)] = int(n)
        record_counts(
            self.staging,
            f"{self.stage}-{Path(name).stem}",
            {"in": table.num_rows, "kept": int((~dropped).sum()), "dropped": counts},
        )

    def _measure(self, path: str, removed) -> pa.Table:
        languages = _language_lookup(self.languages_from, Path(path).name)
        tables = []
        for docs in docsets.read_batches(path, removed, self.batch, ["id", "text"]):
            langs = None
            if languages is not None:
                at = pc.index_in(docs.column("id"), value_set=languages[0])
                langs = pc.take(languages[1], at).to_pylist()
            tables.append(self.measure(self.cfg, docs, langs))
        if not tables:  # every document of the part was removed upstream: an empty table
            empty = pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
            return self.measure(self.cfg, empty, None if languages is None else [])
        return pa.concat_tables(tables)


def _language_lookup(directory: str | None, name: str):
    """(ids, languages) of one part from language ID's attributes, or None."""
    if not directory or not (Path(directory) / name).exists():
        return None
    table = pq.read_table(Path(directory) / name, columns=["id", "language"])
    return table.column("id").combine_chunks(), table.column("language").combine_chunks()


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another filesystem: copy instead
        shutil.copyfile(src, dst)


def run_attribute_stage(
    ctx: StageContext,
    stage: str,
    docs: DocSet | str,
    upstream: str,
    *,
    cfg,
    measure: Callable,
    decide: Callable,
    measure_settings: dict,
    config: dict,
    reasons: tuple[str, ...],
    batch_size: int,
) -> dict:
    """Run a measure-then-decide stage on the document set `docs` through `run_stage`."""
    docs = DocSet.parse(docs)
    removed = docs.removed_map(ctx.run_dir)
    parts = docs.part_paths(ctx.run_dir)
    elements = [(p, removed.get(p, ())) for p in parts]
    uses_language = stage != "language_id" and filtered_dir("language_id") in docs.minus
    languages_from = str(ctx.run_dir / LANGUAGE_ATTRIBUTES) if uses_language else None
    upstream_print = ctx.stats(upstream).get("fingerprint") if upstream else None
    language_print = ctx.stats("language_id").get("fingerprint") if uses_language else None
    measure_print = fingerprint(
        stage, measure_settings, str(docs), [io.file_fingerprint(p) for p in parts],
        upstream_print, language_print,
    )  # fmt: skip
    published = ctx.run_dir / attributes_dir(stage)
    previous = ctx.stats(stage) if ctx.stats_path(stage).exists() else {}
    reuse = previous.get("measure_fingerprint") == measure_print and all(
        (published / Path(p).name).exists() for p in parts
    )

    def body(staging: Path) -> dict:
        fn = MeasureAndDecide(
            stage, measure, decide, cfg, str(staging),
            str(published) if reuse else None, languages_from, batch_size,
        )  # fmt: skip
        with make_pipeline(ctx.beam_args) as p:
            (
                p
                | "Parts" >> beam.Create(elements)
                | "Reshuffle" >> beam.Reshuffle()
                | "MeasureAndDecide" >> beam.ParDo(fn)
            )
        counts = {"in": 0, "kept": 0, **read_counts(staging)}
        counts["dropped"] = {r: counts.get("dropped", {}).get(r, 0) for r in reasons}
        counts.update(measure_fingerprint=measure_print, attributes_reused=reuse)
        counts["uses_language"] = uses_language
        return counts

    outputs = [attributes_dir(stage), filtered_dir(stage)]
    up = [upstream] if upstream else []
    return run_stage(ctx, stage, {**config, "input": str(docs)}, up, outputs, body)


def passes_on(stage: str) -> Callable:
    """What later stages read after a measure-then-decide stage: its input minus its drops."""
    return lambda docs, cfg: DocSet.parse(docs).without(filtered_dir(stage))
