"""Exact dedup stage: one document per hash of normalised text.

Keeper rule (documented, order-independent): among documents whose normalised texts hash
the same, the one with the smallest `id` (byte-wise string order) is kept; every other
one is recorded in `dedup/exact` as `id -> kept_id`.

The stage writes only its decisions: `dedup/exact/<part>` lists the ids removed from
documents part `<part>`, and later stages read the documents minus those ids (see
`pipelines.docsets`). So the text is read once here, to hash it, and never rewritten.

Plan: documents part -> hash its texts (vectorised) -> (hash partition, spilled
(id, hash, part) rows) -> GroupByKey -> per hash partition: sort by (hash, id), the first
of each hash is kept, the others go to the part they are in -> GroupByKey(part) -> write
that part's removed -> kept map, sorted by id.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from thresher.pipelines import collection, io, reasons, schemas
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
from thresher.pipelines.stage import Stage, StageContext, read_counts, run_stage
from thresher.scorers.textnorm import hash_texts

STAGE = "exact_dedup"
MAP_OUT = "dedup/exact"


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
        ids, hashes = [], []
        # small batches keep the reader's memory low; the (id, hash) rows are gathered for
        # the whole part, so each partition gets one spill file per part
        for batch in io.read_parquet_file(path).iter_batches(
            batch_size=4096, columns=["id", "text"]
        ):
            ids.append(batch.column("id"))
            hashes += hash_texts(batch.column("text"), **self.switches)
        if hashes:
            table = pa.table(
                {
                    "id": pa.concat_arrays(ids),
                    "text_hash": pa.array(hashes, pa.string()),
                    "part": pa.repeat(path, len(hashes)).cast(pa.string()),
                }
            )
            for part, chunk in split_by_partition(table, hashes, self.partitions):
                yield part, spill(chunk, self.staging, part)
        record_counts(self.staging, f"read-{Path(path).stem}", {"in": len(hashes)})


def pick_keepers(table: pa.Table) -> tuple[pa.Table, int]:
    """For the (id, text_hash, part) rows of one hash partition: (the removed rows as
    id -> kept_id, text_hash, with their `part`; how many rows were kept)."""
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
            "part": table.column("part").filter(removed),
        }
    )
    return dup_map, int(first.sum())


def split_off_earlier_keepers(table: pa.Table, prior: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(rows whose hash an earlier batch of the collection kept, as id -> kept_id rows;
    the other rows). The earlier keeper stays, so every such row is removed."""
    where = pc.index_in(table.column("text_hash"), value_set=prior.column("text_hash"))
    hit = pc.is_valid(where)
    removed = table.filter(hit)
    dup_map = pa.table(
        {
            "id": removed.column("id"),
            "kept_id": prior.column("id").take(where.filter(hit)),
            "text_hash": removed.column("text_hash"),
            "part": removed.column("part"),
        }
    )
    return dup_map, table.filter(pc.invert(hit))


class Decide(beam.DoFn):
    """One hash partition -> (documents part, spilled removed -> kept rows) elements. In a
    collection batch, the partition's rows are first looked up in the collection's exact
    index, and the partition's keepers become the batch's contribution to it."""

    def __init__(self, staging: str, collection: CollectionView | None = None):
        self.staging, self.collection = staging, collection

    def process(self, element):
        hash_part, spilled = element
        with unspilled(spilled) as rows:
            earlier = None
            if self.collection is not None:
                name = f"part-{hash_part:05d}.parquet"
                prior = self.collection.read_prior("exact", name, ["text_hash", "id"])
                if prior is not None:
                    earlier, rows = split_off_earlier_keepers(rows, prior)
            dup_map, kept = pick_keepers(rows)
            if self.collection is not None:
                removed = pc.is_in(rows.column("id"), value_set=dup_map.column("id"))
                keepers = rows.filter(pc.invert(removed)).select(["text_hash", "id"])
                io.write_parquet(
                    keepers.sort_by("text_hash"),
                    collection.contribution(self.staging, "exact", name),
                )
            if earlier is not None:
                dup_map = pa.concat_tables([earlier, dup_map])
            # Counted here, apart from the map parts written next: in = kept + dropped then
            # checks that every hashed row got a decision.
            record_counts(
                self.staging,
                f"decide-{hash_part:05d}",
                {"kept": kept, "dropped": {reasons.EXACT_DUPLICATE: dup_map.num_rows}},
            )
            yield from spill_by_value(
                dup_map, "part", self.staging, hash_part, schemas.EXACT_DUPLICATES.names
            )


class WriteMap(beam.DoFn):
    """A documents part's removed rows -> `dedup/exact/<part name>`, sorted by id."""

    def __init__(self, staging: str):
        self.staging = staging

    def process(self, element):
        path, spilled = element
        with unspilled(spilled) as rows:
            io.write_parquet(rows.sort_by("id"), Path(self.staging) / MAP_OUT / Path(path).name)


def build(
    pipeline,
    parts: list[str],
    cfg: ExactDedupConfig,
    partitions: int,
    staging: str,
    collection_view: CollectionView | None = None,
):
    return (
        pipeline
        | "Parts" >> beam.Create(parts)
        | "Reshuffle" >> beam.Reshuffle()
        | "Hash" >> beam.ParDo(HashPart(cfg, partitions, staging))
        | "GroupByHash" >> beam.GroupByKey()
        | "Decide" >> beam.ParDo(Decide(staging, collection_view))
        | "GroupByPart" >> beam.GroupByKey()
        | "WriteMap" >> beam.ParDo(WriteMap(staging))
    )


def surviving(docs: DocSet) -> DocSet:
    """The documents of `docs` that exact dedup keeps."""
    return docs.without(MAP_OUT)


def run(ctx: StageContext, cfg: ExactDedupConfig, docs: DocSet | str, upstream: str) -> dict:
    """Dedup the document set `docs` (its parts; exact dedup runs right after ingest, so no
    removals apply yet), written by `upstream`."""
    docs = DocSet.parse(docs)
    if docs.minus:
        raise ValueError(f"exact dedup reads whole parts, not {docs}: run it right after ingest")
    parts = docs.part_paths(ctx.run_dir)

    def body(staging: Path) -> dict:
        with make_pipeline(ctx.beam_args) as p:
            build(p, parts, cfg, ctx.partitions, str(staging), ctx.collection)
        counts = read_counts(staging)
        counts.setdefault("in", 0)
        counts.setdefault("kept", 0)
        counts.setdefault("dropped", {reasons.EXACT_DUPLICATE: 0})
        return counts

    # The hash's case mapping comes from the Unicode tables inside pyarrow, so a new pyarrow
    # (or a new hash method) redoes the stage instead of mixing two definitions in one run.
    config = {
        "exact_dedup": cfg.model_dump(),
        "input": docs.parts,
        "partitions": ctx.partitions,
        "method": 2,
        "pyarrow": pa.__version__,
    }
    published = [MAP_OUT]
    if ctx.collection is not None:
        config["collection"] = ctx.collection.identity()
        published.append(collection.contributions_out("exact"))
    return run_stage(ctx, STAGE, config, [upstream], published, body)


STAGE_DEF = Stage(
    name=STAGE,
    config=ExactDedupConfig,
    run=run,
    reads="documents",
    writes=(MAP_OUT,),
    reasons=(reasons.EXACT_DUPLICATE,),
    passes_on=lambda docs, cfg: surviving(docs),
    description="exact duplicates by normalised-text hash",
)
