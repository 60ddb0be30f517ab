"""Ingest stage: JSONL / Parquet files -> `documents/stage=ingest` + `rejects/stage=ingest`.

Plan: the text is written once, where it is read; only ids travel.
  input unit U (one input file, or consecutive small files packed up to UNIT_BYTES on disk)
  -> records -> documents parts `part-UUUUU-CCCCC` (a new part every `part_docs` documents
  or PART_BYTES of text), rejects part `part-UUUUU`; (id, file, line) keys
  -> GroupByKey(id partition) -> the first occurrence (file order, then line) of each id
  wins -> later ones go to their part -> GroupByKey(part) -> that part is rewritten
  without them and they become `duplicate_id` rejects. Parts with no repeated id (usually
  all) are written exactly once. Files are numbered and packed in sorted path order, so the
  output does not depend on the order the inputs were given in, on batch sizes or on the
  runner.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from thresher.pipelines import collection, docsets, io, reasons, schemas
from thresher.pipelines.beam_util import (
    make_pipeline,
    record_counts,
    spill,
    spill_by_value,
    split_by_partition,
    unspilled,
)
from thresher.pipelines.collection import CollectionView
from thresher.pipelines.docsets import DocSet
from thresher.pipelines.records import ReaderSettings, RecordReader
from thresher.pipelines.stage import Stage, StageContext, read_counts, run_stage

STAGE = "ingest"
DOCS_OUT = f"documents/stage={STAGE}"
REJECTS_OUT = f"rejects/stage={STAGE}"
KEYS = pa.schema(
    [
        ("id", pa.string()),
        ("file_no", pa.int64()),
        ("line", pa.int64()),
        ("part", pa.string()),
        ("file", pa.string()),
    ]
)
_KEYS_PER_SPILL = 200_000
PART_BYTES = 256 << 20  # text per documents part at most (besides IngestConfig.part_docs)
UNIT_BYTES = 16 << 20  # small input files are packed into units of work of up to this size


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
    batch_size: int = Field(
        2000, ge=1, le=1_000_000, description="records parsed per batch (at most 32 M characters)"
    )
    part_docs: int = Field(
        100_000, ge=1, description="documents per output part (a part is one unit of work later)"
    )


class ReadFile(beam.DoFn):
    """(unit number, [(file number, path), ...]) -> the unit's documents and rejects parts,
    written here; yields (id partition, spilled keys) for the duplicate-id check."""

    def __init__(self, settings: ReaderSettings, part_docs: int, partitions: int, staging: str):
        self.settings, self.part_docs = settings, part_docs
        self.partitions, self.staging = partitions, staging

    def setup(self):
        self.reader = RecordReader(self.settings)

    def process(self, element):
        unit, files, nbytes = element
        docs_dir = Path(self.staging) / DOCS_OUT
        seen, chunk, in_chunk, in_bytes, out, keys = 0, 0, 0, 0, None, []
        with io.ParquetStream(
            Path(self.staging) / REJECTS_OUT / f"part-{unit:05d}.parquet", schemas.REJECTS
        ) as rejects:
            for number, path, docs, bad, n in self._read(files):
                seen += n
                rejects.write(bad)
                while docs.num_rows:
                    if out is None:
                        name = f"part-{unit:05d}-{chunk:05d}"
                        out = io.ParquetStream(docs_dir / f"{name}.parquet", schemas.DOCUMENTS)
                    # a part holds at most part_docs documents and PART_BYTES of text
                    # (an empty part takes the next document whatever its size)
                    ends = np.cumsum(pc.binary_length(docs.column("text")).to_numpy())
                    fits = int(np.searchsorted(ends, PART_BYTES - in_bytes, "right"))
                    take = min(self.part_docs - in_chunk, fits) or (0 if in_chunk else 1)
                    if take == 0:  # the next document does not fit: this part is full
                        out.close()
                        out, chunk, in_chunk, in_bytes = None, chunk + 1, 0, 0
                        continue
                    piece = docs.slice(0, take)
                    out.write(piece)
                    keys.append(_keys(piece, number, name, path))
                    in_chunk += piece.num_rows
                    in_bytes += int(ends[piece.num_rows - 1])
                    docs = docs.slice(piece.num_rows)
                    if in_chunk == self.part_docs or in_bytes >= PART_BYTES:
                        out.close()
                        out, chunk, in_chunk, in_bytes = None, chunk + 1, 0, 0
                if sum(k.num_rows for k in keys) >= _KEYS_PER_SPILL:
                    yield from self._spill(keys)
                    keys = []
        if out is not None:
            out.close()
        yield from self._spill(keys)
        # bytes: the unit's size on disk, for the progress report
        record_counts(self.staging, f"read-{unit:05d}", {"in": seen, "bytes": nbytes})

    def _read(self, files):
        for number, path in files:
            for docs, bad, n in self.reader.read_file(path):
                yield number, path, docs, bad, n

    def _spill(self, keys: list[pa.Table]):
        if keys:
            table = pa.concat_tables(keys)
            ids = table.column("id").to_pylist()
            for part, chunk in split_by_partition(table, ids, self.partitions):
                yield part, spill(chunk, self.staging, part)


def _keys(docs: pa.Table, number: int, part: str, path: str) -> pa.Table:
    n = docs.num_rows
    return pa.table(
        {
            "id": docs.column("id"),
            "file_no": pa.repeat(number, n).cast(pa.int64()),
            "line": docs.column("line"),
            "part": pa.repeat(part, n).cast(pa.string()),
            "file": pa.repeat(path, n).cast(pa.string()),
        },
        schema=KEYS,
    )


REPEATS = pa.schema(
    [("part", pa.string()), ("file", pa.string()), ("line", pa.int64()), ("detail", pa.string())]
)
_ORDER = [("file", "ascending"), ("line", "ascending")]  # a part's row order (paths sorted)


def find_repeats(keys: pa.Table) -> pa.Table:
    """Rows whose id already occurred earlier (by file number, then line), with a detail
    naming that first occurrence: (part, file, line, detail)."""
    keys = keys.sort_by([("id", "ascending"), ("file_no", "ascending"), ("line", "ascending")])
    ids = keys.column("id").to_numpy(zero_copy_only=False)
    repeat = np.zeros(len(ids), dtype=bool)
    if len(ids) > 1:
        repeat[1:] = ids[1:] == ids[:-1]
    if not repeat.any():
        return REPEATS.empty_table()
    first = np.maximum.accumulate(np.where(~repeat, np.arange(len(ids)), 0))[repeat]
    where = pa.array(first)
    files, lines = (
        keys.column("file").take(where).to_pylist(),
        keys.column("line").take(where).to_pylist(),
    )
    detail = [f"id already used at {f}:{n}" for f, n in zip(files, lines, strict=True)]
    dups = keys.filter(pa.array(repeat))
    return pa.table(
        {
            "part": dups.column("part"),
            "file": dups.column("file"),
            "line": dups.column("line"),
            "detail": pa.array(detail, pa.string()),
        },
        schema=REPEATS,
    )


def repeats_of_earlier_batches(keys: pa.Table, prior: pa.Table, collection: str) -> pa.Table:
    """Rows whose id an earlier batch of the collection already ingested."""
    where = pc.index_in(keys.column("id"), value_set=prior.column("id"))
    hit = pc.is_valid(where)
    batches = prior.column("batch").take(where.filter(hit)).to_pylist()
    detail = [f"id already used by batch {b} of collection {collection}" for b in batches]
    dups = keys.filter(hit)
    return pa.table(
        {
            "part": dups.column("part"),
            "file": dups.column("file"),
            "line": dups.column("line"),
            "detail": pa.array(detail, pa.string()),
        },
        schema=REPEATS,
    )


class FindRepeats(beam.DoFn):
    """One id partition -> (part, spilled repeats in that part) elements. In a collection
    batch, an id an earlier batch ingested is a repeat too, and the partition's accepted
    ids go to the batch's contribution to the collection's id index."""

    def __init__(self, staging: str, collection: CollectionView | None = None):
        self.staging, self.collection = staging, collection

    def process(self, element):
        id_part, spilled = element
        with unspilled(spilled) as keys:
            repeats = find_repeats(keys)
            if self.collection is not None:
                name = f"part-{id_part:05d}.parquet"
                prior = self.collection.read_prior("ids", name, ["id"])
                if prior is not None:
                    earlier = repeats_of_earlier_batches(keys, prior, self.collection.name)
                    # a repeat within the batch whose first use is also an earlier batch's
                    # is reported once, against the earlier batch
                    within = repeats.join(earlier, ["part", "file", "line"], join_type="left anti")
                    repeats = pa.concat_tables([earlier, within.select(REPEATS.names)])
                accepted = keys.join(repeats, ["part", "file", "line"], join_type="left anti")
                io.write_parquet(
                    accepted.select(["id"]).sort_by("id"),
                    collection.contribution(self.staging, "ids", name),
                )
            yield from spill_by_value(repeats, "part", self.staging, id_part)


class DropRepeats(beam.DoFn):
    """A documents part and its repeated ids -> the part without them, plus their rejects.

    Streamed (memory is a batch, not the part). Safe to retry: the rejects are written
    before the part is replaced, so a part that no longer holds the repeats was done.
    """

    def __init__(self, staging: str, raw_chars: int):
        self.staging, self.raw_chars = staging, raw_chars

    def process(self, element):
        part, spilled = element
        with unspilled(spilled) as repeats:
            self._drop(part, repeats.sort_by(_ORDER))

    def _drop(self, part: str, repeats: pa.Table) -> None:
        path = Path(self.staging) / DOCS_OUT / f"{part}.parquet"
        if not path.exists():
            return  # an earlier attempt removed every document of this part
        # a part may hold several files of its unit: a record is its (file, line)
        where = repeats.select(["file", "line"])
        found = [
            batch.join(where, ["file", "line"], join_type="left semi")
            for batch in docsets.read_batches(str(path), batch_size=4096)
        ]
        dups = pa.concat_tables(found).sort_by(_ORDER) if found else None
        if dups is None or dups.num_rows == 0:
            return  # an earlier attempt finished this part
        if dups.num_rows != repeats.num_rows:
            raise RuntimeError(
                f"{path.name}: {repeats.num_rows} repeated ids expected, {dups.num_rows} found"
            )
        rejects = pa.table(
            {
                "reason": pa.repeat(reasons.DUPLICATE_ID, dups.num_rows).cast(pa.string()),
                "file": dups.column("file"),
                "line": dups.column("line"),
                "id": dups.column("id"),
                "detail": repeats.column("detail"),
                "raw": pc.utf8_slice_codeunits(dups.column("text"), 0, self.raw_chars).cast(
                    pa.string()
                ),
            },
            schema=schemas.REJECTS,
        )
        io.write_parquet(
            rejects, Path(self.staging) / REJECTS_OUT / f"{part}-duplicate-ids.parquet"
        )
        kept = (
            b.join(where, ["file", "line"], join_type="left anti").sort_by(_ORDER)
            for b in docsets.read_batches(str(path), batch_size=4096)
        )
        if io.write_parquet_batches(kept, schemas.DOCUMENTS, path) == 0:  # replaced atomically
            path.unlink()  # nothing left: no part at all


def units(
    files: list[str], sizes: list[int | None]
) -> list[tuple[int, list[tuple[int, str]], int]]:
    """Number the files (in the sorted order given) and pack consecutive small ones into
    units of up to UNIT_BYTES on disk; a larger file is a unit of its own.
    Returns [(unit number, [(file number, path), ...], bytes on disk), ...]."""
    groups, current, size = [], [], 0
    for number, (path, nbytes) in enumerate(zip(files, sizes, strict=True)):
        nbytes = nbytes or 0
        if current and size + nbytes > UNIT_BYTES:
            groups.append((current, size))
            current, size = [], 0
        current.append((number, path))
        size += nbytes
    if current:
        groups.append((current, size))
    return [(unit, group, size) for unit, (group, size) in enumerate(groups)]


def build(
    pipeline,
    files: list[str],
    sizes: list[int | None],
    cfg: IngestConfig,
    partitions: int,
    staging: str,
    collection_view: CollectionView | None = None,
):
    settings = ReaderSettings(**cfg.model_dump(exclude={"part_docs"}))
    return (
        pipeline
        | "Units" >> beam.Create(units(files, sizes))
        | "Reshuffle" >> beam.Reshuffle()  # spread files over workers on distributed runners
        | "Read" >> beam.ParDo(ReadFile(settings, cfg.part_docs, partitions, staging))
        | "GroupById" >> beam.GroupByKey()
        | "FindRepeats" >> beam.ParDo(FindRepeats(staging, collection_view))
        | "GroupByPart" >> beam.GroupByKey()
        | "DropRepeats" >> beam.ParDo(DropRepeats(staging, cfg.raw_chars))
    )


def run(ctx: StageContext, cfg: IngestConfig, docs=None, upstream: str | None = None) -> dict:
    """Read the run's input files (`ctx.inputs`, listed once per run) into documents and
    rejects, or skip when this exact run already finished. `docs`/`upstream`: unused (the
    first stage reads files, not a document set)."""
    files = [path for path, _, _ in ctx.inputs]  # sorted: file numbers follow path order
    sizes = [size for _, size, _ in ctx.inputs]

    def body(staging: Path) -> dict:
        with make_pipeline(ctx.beam_args) as p:
            build(p, files, sizes, cfg, ctx.partitions, str(staging), ctx.collection)
        counts = read_counts(staging)
        counts.setdefault("in", 0)
        # kept and rejected are counted from the files written, so the accounting identity
        # checks the outputs against the records read
        counts["kept"] = io.parquet_rows(io.iter_parts(staging / DOCS_OUT))
        counts["rejected"] = io.parquet_rows(io.iter_parts(staging / REJECTS_OUT))
        counts["files"] = len(files)
        counts["rejected_by_reason"] = _reasons(staging / REJECTS_OUT)
        counts["chars_kept"] = _sum_column(staging / DOCS_OUT, "n_chars")
        return counts

    # partitions only route the small id keys: the outputs do not depend on them (except in
    # a collection, whose id index is partitioned: its identity names them)
    config = {"ingest": cfg.model_dump(), "files": ctx.inputs}
    published = [DOCS_OUT, REJECTS_OUT]
    if ctx.collection is not None:
        config["collection"] = {**ctx.collection.identity(), "partitions": ctx.partitions}
        published.append(collection.contributions_out("ids"))
    return run_stage(ctx, STAGE, config, [], published, body)


STAGE_DEF = Stage(
    name=STAGE,
    config=IngestConfig,
    run=run,
    reads="inputs",
    writes=(DOCS_OUT, REJECTS_OUT),
    passes_on=lambda docs, cfg: DocSet(DOCS_OUT),
    description="reading raw records: validation, ids, normalisation; bad records -> rejects",
)


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
