"""Exact dedup stage: one document per hash of normalised text.

Keeper rule (documented, order-independent): among documents whose normalised texts hash
the same, the one with the smallest `id` (byte-wise string order) is kept; every other
one is recorded in `dedup/exact` as `id -> kept_id`.

Plan: one element per documents part -> hash texts, split rows by hash partition ->
GroupByKey(partition) -> sort by (hash, id), first per hash kept -> write parts.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from pipelines import io, reasons, schemas
from pipelines.beam_util import (
    make_pipeline,
    record_counts,
    spill,
    split_by_partition,
    unspill,
    write_part,
)
from pipelines.stage import StageContext, read_counts, run_stage
from scorers.textnorm import make_hasher

STAGE = "exact_dedup"
DOCS_OUT = f"documents/stage={STAGE}"
MAP_OUT = "dedup/exact"


class ExactDedupConfig(BaseModel):
    """What counts as 'the same text' for exact dedup."""

    model_config = ConfigDict(extra="forbid")

    lowercase: bool = Field(True, description="fold case before hashing")
    collapse_whitespace: bool = Field(True, description="treat any run of whitespace as one space")
    strip_punctuation: bool = Field(False, description="treat punctuation and symbols as spaces")
    normalize_digits: bool = Field(False, description="treat every digit as 0")

    def hasher(self):
        return make_hasher(
            lowercase=self.lowercase,
            collapse_whitespace=self.collapse_whitespace,
            strip_punctuation=self.strip_punctuation,
            normalize_digits=self.normalize_digits,
        )


class HashPart(beam.DoFn):
    def __init__(self, cfg: ExactDedupConfig, partitions: int, staging: str):
        self.cfg = cfg
        self.partitions = partitions
        self.staging = staging

    def setup(self):
        self.hash_text = self.cfg.hasher()

    def process(self, path: str):
        pf = pq.ParquetFile(path)
        rows = 0
        for rb in pf.iter_batches(batch_size=4096):
            table = pa.Table.from_batches([rb])
            hashes = [self.hash_text(t) for t in table.column("text").to_pylist()]
            table = table.append_column("text_hash", pa.array(hashes, pa.string()))
            rows += table.num_rows
            for part, chunk in split_by_partition(table, hashes, self.partitions):
                yield part, spill(chunk, self.staging, part)
        record_counts(self.staging, f"read-{Path(path).stem}", {"in": rows})


def pick_keepers(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(kept documents, removed id -> kept id) for the rows of one partition."""
    table = table.sort_by([("text_hash", "ascending"), ("id", "ascending")])
    hashes = table.column("text_hash").to_numpy(zero_copy_only=False)
    first = np.ones(len(hashes), dtype=bool)
    if len(hashes) > 1:
        first[1:] = hashes[1:] != hashes[:-1]
    # index of the keeper (first row of its hash run) for every row
    keeper_index = np.maximum.accumulate(np.where(first, np.arange(len(hashes)), 0))
    ids = table.column("id")
    removed = pa.array(~first)
    dup_map = pa.table(
        {
            "id": ids.filter(removed),
            "kept_id": ids.take(pa.array(keeper_index[~first])),
            "text_hash": table.column("text_hash").filter(removed),
        },
        schema=schemas.EXACT_DUPLICATES,
    )
    kept = table.filter(pa.array(first)).drop_columns(["text_hash"]).sort_by("id")
    return kept, dup_map.sort_by("id")


class WriteKeepers(beam.DoFn):
    def __init__(self, staging: str):
        self.staging = staging

    def process(self, element):
        part, spilled = element
        kept, dup_map = pick_keepers(unspill(list(spilled)))
        write_part(kept, Path(self.staging) / DOCS_OUT, part)
        write_part(dup_map, Path(self.staging) / MAP_OUT, part)
        record_counts(self.staging, f"write-{part:05d}",
                      {"kept": kept.num_rows, "dropped": {reasons.EXACT_DUPLICATE: dup_map.num_rows}})


def build(pipeline, parts: list[str], cfg: ExactDedupConfig, partitions: int, staging: str):
    return (
        pipeline
        | "Parts" >> beam.Create(parts)
        | "Reshuffle" >> beam.Reshuffle()
        | "Hash" >> beam.ParDo(HashPart(cfg, partitions, staging))
        | "Group" >> beam.GroupByKey()
        | "Keep" >> beam.ParDo(WriteKeepers(staging))
    )


def run(ctx: StageContext, cfg: ExactDedupConfig, input_dir: str, upstream: str) -> dict:
    """Dedup the documents under `input_dir` (relative to the run), written by `upstream`."""
    parts = [str(p) for p in io.iter_parts(ctx.run_dir / input_dir)]

    def body(staging: Path) -> dict:
        with make_pipeline(ctx.beam_args) as p:
            build(p, parts, cfg, ctx.partitions, str(staging))
        counts = read_counts(staging)
        counts.setdefault("in", 0)
        counts.setdefault("kept", 0)
        counts.setdefault("dropped", {reasons.EXACT_DUPLICATE: 0})
        return counts

    config = {"exact_dedup": cfg.model_dump(), "input": input_dir, "partitions": ctx.partitions}
    return run_stage(ctx, STAGE, config, [upstream], [DOCS_OUT, MAP_OUT], body)
