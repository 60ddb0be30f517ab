"""Ingest stage: JSONL / Parquet files -> `documents/stage=ingest` + `rejects/stage=ingest`.

Plan: one element per input file -> read into Arrow batches, each split by a hash of
the document id into partitions -> GroupByKey(partition) -> in each partition the
first occurrence of an id (smallest file, then line) is kept, later ones are rejected
as `duplicate_id` -> one Parquet part per partition, sorted by id. Output is therefore
identical whatever the input order, bundle sizes or runner.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from pipelines import io, reasons, schemas
from pipelines.beam_util import (
    make_pipeline,
    partition_of,
    record_counts,
    spill,
    split_by_partition,
    unspill,
    write_part,
)
from pipelines.records import ReaderSettings, RecordReader
from pipelines.stage import StageContext, fingerprint, read_counts, run_stage

STAGE = "ingest"
DOCS_OUT = f"documents/stage={STAGE}"
REJECTS_OUT = f"rejects/stage={STAGE}"


class IngestConfig(BaseModel):
    """How raw records become documents."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(
        None, description="source name for records without a 'source' field (default: file stem)"
    )
    text_field: str = Field("text", min_length=1, description="field holding the document text")
    id_field: str = Field("id", min_length=1, description="field holding the document id")
    max_chars: int = Field(
        1_000_000, ge=1, description="longer texts are rejected as text_too_long"
    )
    raw_chars: int = Field(2000, ge=0, description="how much of a rejected record to keep")
    batch_size: int = Field(2000, ge=1, le=1_000_000, description="documents per Beam element")


class ReadFile(beam.DoFn):
    """One input file -> (partition, ("docs" | "rejects", spilled batch path)) elements."""

    def __init__(self, settings: ReaderSettings, partitions: int, staging: str):
        self.settings = settings
        self.partitions = partitions
        self.staging = staging

    def setup(self):
        self.reader = RecordReader(self.settings)

    def process(self, path: str):
        seen = 0
        # Rejects go to the partition of their file, so a file's rejects share a part file.
        reject_part = partition_of(path, self.partitions)
        for docs, rejects, n in self.reader.read_file(path):
            seen += n
            ids = docs.column("id").to_pylist()
            for part, table in split_by_partition(docs, ids, self.partitions):
                yield part, ("docs", spill(table, self.staging, part))
            if rejects.num_rows:
                yield reject_part, ("rejects", spill(rejects, self.staging, reject_part))
        record_counts(self.staging, f"read-{fingerprint(path)}", {"in": seen})


def resolve_duplicate_ids(docs: pa.Table, raw_chars: int) -> tuple[pa.Table, pa.Table]:
    """Keep the first occurrence (file, line) of every id; the rest become rejects."""
    docs = docs.sort_by([("id", "ascending"), ("file", "ascending"), ("line", "ascending")])
    ids = docs.column("id").to_numpy(zero_copy_only=False)
    repeat = np.zeros(len(ids), dtype=bool)
    if len(ids) > 1:
        repeat[1:] = ids[1:] == ids[:-1]
    if not repeat.any():
        return docs, schemas.empty(schemas.REJECTS)
    dups = docs.filter(pa.array(repeat))
    first = {}
    for i in np.flatnonzero(~repeat):
        first[ids[i]] = (docs["file"][i].as_py(), docs["line"][i].as_py())
    texts = dups.column("text").to_pylist()
    rejects = pa.table(
        {
            "reason": [reasons.DUPLICATE_ID] * dups.num_rows,
            "file": dups.column("file"),
            "line": dups.column("line"),
            "id": dups.column("id"),
            "detail": [
                "id already used at {}:{}".format(*first[i]) for i in dups.column("id").to_pylist()
            ],
            "raw": [t[:raw_chars] for t in texts],
        },
        schema=schemas.REJECTS,
    )
    return docs.filter(pa.array(~repeat)), rejects


class WritePartition(beam.DoFn):
    """All batches of one partition -> one sorted documents part and one rejects part."""

    def __init__(self, staging: str, raw_chars: int):
        self.staging = staging
        self.raw_chars = raw_chars

    def process(self, element):
        part, values = element
        values = list(values)
        kept = schemas.empty(schemas.DOCUMENTS)
        dup_rejects = schemas.empty(schemas.REJECTS)
        docs = [path for kind, path in values if kind == "docs"]
        if docs:
            kept, dup_rejects = resolve_duplicate_ids(unspill(docs), self.raw_chars)
        read_rejects = [path for kind, path in values if kind == "rejects"]
        rejects = pa.concat_tables(
            [dup_rejects, unspill(read_rejects)] if read_rejects else [dup_rejects]
        ).sort_by([("file", "ascending"), ("line", "ascending"), ("reason", "ascending")])
        write_part(kept, Path(self.staging) / DOCS_OUT, part)
        write_part(rejects, Path(self.staging) / REJECTS_OUT, part)
        record_counts(self.staging, f"write-{part:05d}",
                      {"kept": kept.num_rows, "rejected": rejects.num_rows})


def build(pipeline, files: list[str], cfg: IngestConfig, partitions: int, staging: str):
    settings = ReaderSettings(**cfg.model_dump())
    return (
        pipeline
        | "Files" >> beam.Create(files)
        | "Reshuffle" >> beam.Reshuffle()  # spread files over workers on distributed runners
        | "Read" >> beam.ParDo(ReadFile(settings, partitions, staging))
        | "Group" >> beam.GroupByKey()
        | "Write" >> beam.ParDo(WritePartition(staging, cfg.raw_chars))
    )


def run(ctx: StageContext, inputs: list[str], cfg: IngestConfig) -> dict:
    """Run the ingest stage (or skip it when this exact run already finished)."""
    files = io.expand_inputs(inputs)
    fingerprints = [io.file_fingerprint(f) for f in files]

    def body(staging: Path) -> dict:
        with make_pipeline(ctx.beam_args) as p:
            build(p, files, cfg, ctx.partitions, str(staging))
        counts = read_counts(staging)
        counts.setdefault("in", 0)
        counts.setdefault("kept", 0)
        counts["files"] = len(files)
        counts["rejected_by_reason"] = _reasons(staging / REJECTS_OUT)
        counts["chars_kept"] = _sum_column(staging / DOCS_OUT, "n_chars")
        return counts

    config = {"ingest": cfg.model_dump(), "files": fingerprints, "partitions": ctx.partitions}
    return run_stage(ctx, STAGE, config, [], [DOCS_OUT, REJECTS_OUT], body)


def _reasons(directory: Path) -> dict:
    parts = list(io.iter_parts(directory))
    if not parts:
        return {}
    col = io.read_table(parts, columns=["reason"]).column("reason")
    return {r["values"]: r["counts"] for r in pc.value_counts(col).to_pylist()}


def _sum_column(directory: Path, column: str) -> int:
    parts = list(io.iter_parts(directory))
    if not parts:
        return 0
    return int(pc.sum(io.read_table(parts, columns=[column]).column(column)).as_py() or 0)
