"""Exact dedup stage: one document per hash of normalised text.

Keeper rule (documented, order-independent): among documents whose normalised texts hash
the same, the one with the smallest `id` (byte-wise string order) is kept; every other
one is recorded in `dedup/exact` as `id -> kept_id`.

Plan: only (id, hash) rows travel; the text is read where it lies.
  documents part -> hash its texts (vectorised) -> (hash partition, spilled id/hash rows)
  -> GroupByKey -> per hash partition: sort by (hash, id), first of each hash kept; write
  that partition of the removed -> kept map; send every removed id to the part it is in
  -> GroupByKey(part) -> per part: drop the removed ids, write it under the same name.
Output parts therefore keep the input's partitioning by id and its order.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
from scorers.textnorm import hash_texts

STAGE = "exact_dedup"
DOCS_OUT = f"documents/stage={STAGE}"
MAP_OUT = "dedup/exact"
_PART = "part"  # the value that marks "this documents part exists" in the last grouping


class ExactDedupConfig(BaseModel):
    """What counts as 'the same text' for exact dedup."""

    model_config = ConfigDict(extra="forbid")

    lowercase: bool = Field(True, description="fold case before hashing")
    collapse_whitespace: bool = Field(True, description="treat any run of whitespace as one space")
    strip_punctuation: bool = Field(False, description="treat punctuation and symbols as spaces")
    normalize_digits: bool = Field(False, description="treat every digit as 0")


class HashPart(beam.DoFn):
    """A documents part -> (hash partition, spilled (id, text_hash, part) rows) elements."""

    def __init__(self, cfg: ExactDedupConfig, partitions: int, staging: str):
        self.switches = cfg.model_dump()
        self.partitions = partitions
        self.staging = staging

    def process(self, path: str):
        rows = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=16384, columns=["id", "text"]):
            hashes = hash_texts(batch.column("text"), **self.switches)
            table = pa.table({
                "id": batch.column("id"),
                "text_hash": pa.array(hashes, pa.string()),
                "part": pa.array([path] * batch.num_rows, pa.string()),
            })
            rows += batch.num_rows
            for part, chunk in split_by_partition(table, hashes, self.partitions):
                yield part, spill(chunk, self.staging, part)
        record_counts(self.staging, f"read-{Path(path).stem}", {"in": rows})


def pick_keepers(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(removed id -> kept id map, removed rows' (id, part)) for the rows of one hash
    partition."""
    table = table.sort_by([("text_hash", "ascending"), ("id", "ascending")])
    hashes = table.column("text_hash").to_numpy(zero_copy_only=False)
    first = np.ones(len(hashes), dtype=bool)
    if len(hashes) > 1:
        first[1:] = hashes[1:] != hashes[:-1]
    # index of the keeper (first row of its hash run) for every row
    keeper_index = np.maximum.accumulate(np.where(first, np.arange(len(hashes)), 0))
    removed = pa.array(~first)
    dup_map = pa.table(
        {
            "id": table.column("id").filter(removed),
            "kept_id": table.column("id").take(pa.array(keeper_index[~first])),
            "text_hash": table.column("text_hash").filter(removed),
        },
        schema=schemas.EXACT_DUPLICATES,
    )
    return dup_map.sort_by("id"), table.filter(removed).select(["id", "part"])


class Decide(beam.DoFn):
    """One hash partition -> its part of the map, and (part, spilled removed ids) elements."""

    def __init__(self, staging: str):
        self.staging = staging

    def process(self, element):
        hash_part, spilled = element
        dup_map, removed = pick_keepers(unspill(list(spilled)))
        write_part(dup_map, Path(self.staging) / MAP_OUT, hash_part)
        record_counts(self.staging, f"map-{hash_part:05d}",
                      {"dropped": {reasons.EXACT_DUPLICATE: dup_map.num_rows}})
        parts = removed.column("part").to_numpy(zero_copy_only=False)
        for path in np.unique(parts).tolist():
            ids = removed.filter(pa.array(parts == path)).select(["id"])
            yield path, spill(ids, self.staging, hash_part)


class FilterPart(beam.DoFn):
    """A documents part and the ids removed from it -> the part without them."""

    def __init__(self, staging: str):
        self.staging = staging

    def process(self, element):
        path, values = element
        removed = [v for v in values if v != _PART]
        table = pq.read_table(path)
        if removed:
            ids = unspill(removed).column("id")
            table = table.filter(pc.invert(pc.is_in(table.column("id"), value_set=ids)))
        if table.num_rows:
            io.write_parquet(table, Path(self.staging) / DOCS_OUT / Path(path).name)
        record_counts(self.staging, f"write-{Path(path).stem}", {"kept": table.num_rows})


def build(pipeline, parts: list[str], cfg: ExactDedupConfig, partitions: int, staging: str):
    part_paths = pipeline | "Parts" >> beam.Create(parts)
    removed = (
        part_paths
        | "Reshuffle" >> beam.Reshuffle()
        | "Hash" >> beam.ParDo(HashPart(cfg, partitions, staging))
        | "GroupByHash" >> beam.GroupByKey()
        | "Decide" >> beam.ParDo(Decide(staging))
    )
    named = part_paths | "NameParts" >> beam.Map(lambda path: (path, _PART))
    return (
        (named, removed)
        | "Together" >> beam.Flatten()
        | "GroupByPart" >> beam.GroupByKey()
        | "Filter" >> beam.ParDo(FilterPart(staging))
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

    config = {"exact_dedup": cfg.model_dump(), "input": input_dir, "partitions": ctx.partitions,
              "method": 2}  # method: bump when the hash definition changes, so reruns redo it
    return run_stage(ctx, STAGE, config, [upstream], [DOCS_OUT, MAP_OUT], body)
