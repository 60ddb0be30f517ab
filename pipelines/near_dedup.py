"""Near-dedup stage: MinHash + LSH, verified, with a deterministic keeper per cluster.

Plan (only file paths travel through Beam; every table goes through staging files):
  1. find_edges: parts -> Bands: signatures per batch -> (bucket partition, spilled
       [band key, id, part] rows) -> GroupByKey -> StarEdges: per bucket, first id (sorted)
       -> each other member: the candidate edges, one file per bucket
  2. star_rounds: connected components as rounds of large-star / small-star, each round a
       pipeline over the edge files, until every component is a star around its smallest id
  3. resolve: settled stars -> Members: (documents part, its candidates with component)
       -> GroupByKey -> Candidates: signatures and keeper priority, read from that part
       -> GroupByKey(component partition) -> Verify: anchor clusters, keeper = anchor;
          cluster rows sorted into `_clusters/pNNNNN.arrow`; removed ids to their part
       -> Flatten with every part -> GroupByKey(part) -> Survivors:
          documents/stage=near_dedup/part-NNNNN (input part N minus what N lost)
  4. write_clusters: the partitions' sorted cluster rows merged as a stream into
       dedup/clusters.parquet (id, cluster_id, kept, similarity_to_keeper)

No step holds corpus-wide state: band keys are spilled and one bucket partition is loaded
at a time; the component rounds hold one node partition's edges; Candidates one documents
part's candidates; Verify one component partition; Survivors one part's removals; the final
merge one batch per partition. A worker's memory follows the partition sizes (set by the
stage's partition count), not the corpus (bench/bench_near_dedup_scale.py measures it).
Why paths and not tables: Beam's in-process runner keeps a GroupByKey's values and a side
input's tables in its own memory; at 100k documents the table-carrying version of this
plan grew to over 20 GB (see bench/bench_memory.py).
Keeper rule: in each verified cluster the document with the smallest `(priority, id)`,
where priority comes from `keep` (default: longest text first).

In a collection batch (pipelines.collection), StarEdges also reads the earlier batches' band
keys of its bucket partition and Candidates their keepers' signatures; those keepers come
first in their components and anchor clusters whatever their rank, so they stay kept.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.pipelines import collection, docsets, io, reasons, schemas, star_rounds
from thresher.pipelines.beam_util import (
    arrow_batches,
    make_pipeline,
    merge_counts,
    read_arrow,
    record_counts,
    spill,
    spill_by_value,
    split_by_partition,
    unspilled,
    write_arrow,
)
from thresher.pipelines.collection import CollectionView
from thresher.pipelines.docsets import DocSet
from thresher.pipelines.near_dedup_config import NearDedupConfig, check_keep_field, priorities
from thresher.pipelines.sorted_merge import merge_sorted
from thresher.pipelines.stage import Stage, StageContext, read_counts, run_stage
from thresher.scorers import minhash
from thresher.scorers.components import EDGES, anchor_clusters

STAGE = "near_dedup"
DOCS_OUT = f"documents/stage={STAGE}"
CLUSTERS_OUT = "dedup/clusters.parquet"
SURVIVOR_BATCH = 8192  # rows per output row group (~25 MB of 3 KB documents)
CLUSTER_RUNS = "_clusters"  # staging-only: each component partition's sorted cluster rows
CLUSTER_ORDER = ("cluster_id", "id")  # dedup/clusters.parquet's sort order
CLUSTER_BATCH = 8192  # rows per batch of a partition's cluster rows (the merge's unit)
CLUSTER_GROUP_ROWS = 64 * 1024  # row group of dedup/clusters.parquet (io.write_parquet's)
PRIOR = -1  # the "documents part" of an earlier collection batch's keeper


def _signatures(cfg: NearDedupConfig, texts: list[str]):
    hashes, offsets = minhash.shingle_hashes(texts, cfg.spec())
    return minhash.signatures(hashes, offsets, cfg.num_perm, cfg.seed), hashes, offsets


class Bands(beam.DoFn):
    """A documents part -> (bucket partition, spilled [band key, id, part] rows), plus counts.
    In a collection batch, the part's signatures also go to the batch's contribution to the
    collection's signature index (what a later batch verifies its candidates against)."""

    def __init__(
        self, cfg: NearDedupConfig, buckets: int, staging: str, in_collection: bool = False
    ):
        self.cfg, self.buckets, self.staging = cfg, buckets, staging
        self.in_collection = in_collection

    def setup(self):
        self.bands, self.rows = self.cfg.band_rows()

    def process(self, element):
        index, path, removed = element
        counts = {"in": 0, "no_shingles": 0}
        signed = []  # (id, signature) tables of this part, for a collection's index
        for rb in docsets.read_batches(path, removed, self.cfg.batch_size, ["id", "text"]):
            sig, hashes, offsets = _signatures(self.cfg, rb.column("text").to_pylist())
            has = np.flatnonzero(offsets[1:] > offsets[:-1])
            if self.in_collection:
                signed.append(signature_rows(self.cfg, rb.column("id"), sig, hashes, offsets, has))
            counts["in"] += rb.num_rows
            counts["no_shingles"] += rb.num_rows - len(has)
            keys = minhash.band_keys(sig[has], self.bands, self.rows).ravel()
            ids = rb.column("id").take(pa.array(np.repeat(has, self.bands)))
            bucket = (keys % np.uint64(self.buckets)).astype(np.int64)
            order = np.argsort(bucket, kind="stable")
            bounds = np.flatnonzero(np.diff(bucket[order])) + 1
            for chunk in np.split(order, bounds) if len(order) else []:
                b = int(bucket[chunk[0]])
                band_rows = pa.table(
                    {
                        "key": pa.array(keys[chunk]),
                        "id": ids.take(pa.array(chunk)),
                        "part": pa.array(np.full(len(chunk), index, np.int32)),
                    }
                )
                yield b, spill(band_rows, self.staging, b)  # to disk, not runner memory
        if signed:
            io.write_parquet(
                pa.concat_tables(signed),
                collection.contribution(self.staging, "near_sigs", f"part-{index:05d}.parquet"),
            )
        record_counts(self.staging, f"bands-{index:05d}", counts)
        yield 0, None  # so the steps after the shuffle run even when no document has shingles


def signature_rows(cfg: NearDedupConfig, ids, sig, hashes, offsets, has) -> pa.Table:
    """(id, sig[, shingles]) of the documents `has` of a batch: what verification needs."""
    cols = {
        "id": ids.take(pa.array(has, pa.int64())),
        "sig": pa.FixedSizeListArray.from_arrays(pa.array(sig[has].ravel()), cfg.num_perm),
    }
    if cfg.verify == "exact":
        shingles = pa.ListArray.from_arrays(pa.array(offsets), pa.array(hashes))
        cols["shingles"] = shingles.take(pa.array(has, pa.int64()))
    return pa.table(cols)


def star_edges(table: pa.Table) -> pa.Table:
    """Band rows (key, id, part) -> per key with k >= 2 documents, k-1 edges from its
    smallest id to the others (`components.EDGES`: each end with its documents part)."""
    table = table.sort_by([("key", "ascending"), ("id", "ascending")])
    keys = table.column("key").to_numpy()
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    head = pa.array(np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))[~first])
    member = pa.array(~first)
    ids, parts = table.column("id"), table.column("part").cast(pa.int32())
    edges = pa.Table.from_arrays(
        [ids.take(head), parts.take(head), ids.filter(member), parts.filter(member)],
        schema=EDGES,
    )
    return edges.group_by(EDGES.names).aggregate([])  # the same pair from several bands


class StarEdges(beam.DoFn):
    """One bucket partition's band rows -> its candidate edges, the first edge file of the
    component rounds (pipelines.star_rounds). In a collection batch, the earlier batches'
    band rows with the same keys join in (so a new document can be a candidate of an
    earlier keeper), and the partition's rows become the batch's contribution to the band
    index."""

    def __init__(self, staging: str, collection_view: CollectionView | None = None):
        self.staging, self.collection = staging, collection_view

    def process(self, element):
        bucket, paths = element
        with unspilled(p for p in paths if p) as band_rows:
            if self.collection is not None and band_rows is not None:
                band_rows = self._with_earlier(bucket, band_rows)
            edges = star_edges(band_rows) if band_rows is not None else None
        if edges is not None and edges.num_rows:
            write_arrow(edges, star_rounds.round_dir(self.staging, 0) / f"b{bucket:05d}.arrow")

    def _with_earlier(self, bucket: int, band_rows: pa.Table) -> pa.Table:
        name = f"part-{bucket:05d}.parquet"
        io.write_parquet(
            band_rows.select(["key", "id"]).sort_by([("key", "ascending"), ("id", "ascending")]),
            collection.contribution(self.staging, "near_bands", name),
        )
        prior = self.collection.read_prior("near_bands", name, ["key", "id"])
        if prior is None:
            return band_rows
        prior = prior.filter(pc.is_in(prior["key"], value_set=band_rows["key"]))
        prior = prior.select(["key", "id"]).append_column(
            "part", pa.array(np.full(prior.num_rows, PRIOR, np.int32))
        )
        return pa.concat_tables([band_rows, prior.cast(band_rows.schema)])


class Members(beam.DoFn):
    """A file of settled star edges -> (documents part, spilled (id, comp) of its members
    there): each candidate goes to the part its document lives in (PRIOR: an earlier
    batch's keeper), with its component, named by the component's smallest id."""

    def __init__(self, staging: str):
        self.staging = staging

    def process(self, path):
        stars = read_arrow(path)
        members = pa.concat_tables(
            [
                pa.table({"id": stars["hi"], "comp": stars["lo"], "part": stars["hi_part"]}),
                pa.table({"id": stars["lo"], "comp": stars["lo"], "part": stars["lo_part"]}),
            ]
        )
        yield from spill_by_value(members, "part", self.staging, 0, keep=["id", "comp"])


class Candidates(beam.DoFn):
    """A documents part's candidates (id, comp) -> (component partition, spilled candidates
    with signature, priority and part); for PRIOR, the earlier batches' keepers among them,
    from the collection's signature index."""

    def __init__(
        self,
        cfg: NearDedupConfig,
        parts: list,
        partitions: int,
        staging: str,
        collection_view: CollectionView | None = None,
    ):
        self.cfg, self.partitions, self.staging = cfg, partitions, staging
        self.parts = {index: (path, removed) for index, path, removed in parts}
        self.prior = [] if collection_view is None else collection_view.prior_all("near_sigs")

    def process(self, element):
        index, paths = element
        with unspilled(paths) as members:
            comps = members.group_by(["id", "comp"]).aggregate([])  # a star centre repeats
        if index == PRIOR:
            for path in self.prior:
                yield from self._earlier_keepers(path, comps)
            record_counts(self.staging, "candidates-prior", {"candidates": comps.num_rows})
            return
        path, removed = self.parts[index]
        columns = ["id", "text", "n_chars", "metadata"]
        without_field = 0  # candidates a `keep: max:FIELD` rule cannot rank (no such field)
        for rb in docsets.read_batches(path, removed, self.cfg.batch_size, columns):
            where = pc.index_in(rb.column("id"), value_set=comps["id"])
            found = pc.is_valid(where)
            if not pc.any(found).as_py():
                continue
            t = rb.filter(found)
            sig, hashes, offsets = _signatures(self.cfg, t["text"].to_pylist())
            priority = priorities(self.cfg.keep, t["n_chars"], t["metadata"])
            without_field += int(np.isinf(priority).sum())
            cols = {
                "comp": comps["comp"].take(where.filter(found)),
                "id": t["id"],
                "priority": priority,
                "prior": pa.repeat(False, t.num_rows),
                "part": pa.array(np.full(t.num_rows, index, np.int32)),
                "sig": pa.FixedSizeListArray.from_arrays(pa.array(sig.ravel()), self.cfg.num_perm),
            }
            if self.cfg.verify == "exact":
                cols["shingles"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(hashes))
            yield from self._spread(pa.table(cols))
        record_counts(
            self.staging,
            f"candidates-{index:05d}",
            {"candidates": comps.num_rows, "keep_field_missing": without_field},
        )

    def _earlier_keepers(self, path: str, comps: pa.Table):
        """The candidates among an earlier batch's keepers (flagged `prior`: they stay).
        The signature index is sorted by id in small row groups: only the groups that can
        hold a candidate are read, so the cost follows the candidates, not the collection."""
        pf = io.read_parquet_file(path)
        wanted = np.sort(comps["id"].to_numpy(zero_copy_only=False))
        for g in io.row_groups_with(pf, "id", wanted):
            t = pf.read_row_group(g)
            where = pc.index_in(t["id"], value_set=comps["id"])
            found = pc.is_valid(where)
            if not pc.any(found).as_py():
                continue
            t = t.filter(found)
            cols = {
                "comp": comps["comp"].take(where.filter(found)),
                "id": t["id"],
                "priority": pa.repeat(0.0, t.num_rows),
                "prior": pa.repeat(True, t.num_rows),
                "part": pa.array(np.full(t.num_rows, PRIOR, np.int32)),
                "sig": t["sig"],
            }
            if self.cfg.verify == "exact":
                cols["shingles"] = t["shingles"]
            yield from self._spread(pa.table(cols))

    def _spread(self, table: pa.Table):
        comp = table["comp"].to_pylist()
        for part, rows in split_by_partition(table, comp, self.partitions):
            yield part, spill(rows, self.staging, part)


def verify_component(cfg: NearDedupConfig, t: pa.Table, fixed: int = 0) -> pa.Table:
    """One component, sorted best first -> cluster rows (members of verified clusters).
    The first `fixed` members are an earlier batch's keepers: they anchor clusters whatever
    their similarity to each other, and have no rows (they belong to earlier runs)."""
    ids = t["id"].to_pylist()
    sig = t["sig"].combine_chunks().flatten().to_numpy().reshape(len(ids), cfg.num_perm)
    if cfg.verify == "exact":
        sets = [np.unique(np.asarray(s, np.uint64)) for s in t["shingles"].to_pylist()]

        def similarity(a, rest):
            return np.array([minhash.jaccard(sets[a], sets[i]) for i in rest])
    else:

        def similarity(a, rest):
            return minhash.estimated_jaccard(sig[a], sig[rest])

    if cfg.verify == "none" and not fixed:
        anchor = np.zeros(len(ids), dtype=np.int64)
        sim = np.concatenate([[1.0], similarity(0, np.arange(1, len(ids)))])
    else:
        # without verification every member joins the first anchor (threshold 0)
        threshold = 0.0 if cfg.verify == "none" else cfg.threshold
        anchor, sim = anchor_clusters(len(ids), similarity, threshold, fixed)
    rows = np.flatnonzero(anchor >= 0)
    rows = rows[rows >= fixed]
    return pa.table(
        {
            "id": [ids[i] for i in rows],
            "cluster_id": [ids[anchor[i]] for i in rows],
            "kept": [bool(anchor[i] == i) for i in rows],
            "similarity_to_keeper": sim[rows].round(6),
        },
        schema=schemas.NEAR_CLUSTERS,
    )


def verify_partition(cfg: NearDedupConfig, candidates: pa.Table) -> pa.Table:
    """Every component of one partition -> the cluster rows of all of them."""
    if "prior" not in candidates.column_names:  # not a collection batch: no earlier keepers
        candidates = candidates.append_column("prior", pa.repeat(False, candidates.num_rows))
    order = [("comp", "ascending"), ("prior", "descending"), ("priority", "ascending")]
    t = candidates.sort_by([*order, ("id", "ascending")])  # earlier keepers first, then best
    comp = t["comp"].to_numpy(zero_copy_only=False)
    prior = t["prior"].to_numpy(zero_copy_only=False)
    bounds = [0, *(np.flatnonzero(comp[1:] != comp[:-1]) + 1).tolist(), len(comp)]
    clusters = [
        verify_component(cfg, t.slice(lo, hi - lo), int(prior[lo:hi].sum()))
        for lo, hi in itertools.pairwise(bounds)
        if hi - lo >= 2
    ]
    return pa.concat_tables(clusters) if clusters else schemas.empty(schemas.NEAR_CLUSTERS)


class Verify(beam.DoFn):
    """One component partition's candidates -> its cluster rows, sorted, in
    `<staging>/_clusters/pNNNNN.arrow`; and (documents part, spilled ids it removes there)."""

    def __init__(self, cfg: NearDedupConfig, staging: str):
        self.cfg, self.staging = cfg, staging

    def process(self, element):
        partition, paths = element
        with unspilled(paths) as candidates:
            clusters = verify_partition(self.cfg, candidates)
            clusters = clusters.sort_by([(k, "ascending") for k in CLUSTER_ORDER])
            removed = clusters.filter(pc.invert(clusters["kept"])).select(["id"])
            where = pc.index_in(removed["id"], value_set=candidates["id"])
            removed = removed.append_column("part", candidates["part"].take(where))
        kept = pc.sum(clusters["kept"].cast(pa.int64())).as_py() or 0
        counts = {"clusters": kept, "clustered_docs": clusters.num_rows}
        record_counts(self.staging, f"verify-{partition:05d}", counts)
        if clusters.num_rows:
            path = Path(self.staging) / CLUSTER_RUNS / f"p{partition:05d}.arrow"
            write_arrow(clusters, path, batch_rows=CLUSTER_BATCH)
        yield from spill_by_value(removed, "part", self.staging, partition, keep=["id"])


class Survivors(beam.DoFn):
    """(part index N, spilled ids near dedup removed from it) -> output part N: input part
    N minus those ids. Only part N's removals are read, never the stage's."""

    def __init__(self, parts: list, staging: str):
        self.parts = {index: (path, removed) for index, path, removed in parts}
        self.staging = staging

    def process(self, element):
        index, paths = element
        path, removed = self.parts[index]
        with unspilled(p for p in paths if p) as gone:
            near_removed = pa.array([], pa.string()) if gone is None else gone["id"]
        total = 0

        def kept_batches():  # streamed: memory is one batch, not the whole part
            nonlocal total
            for t in docsets.read_batches(path, removed, SURVIVOR_BATCH):
                total += t.num_rows
                yield t.filter(pc.invert(pc.is_in(t["id"], value_set=near_removed)))

        out = Path(self.staging) / DOCS_OUT / f"part-{index:05d}.parquet"
        kept = io.write_parquet_batches(kept_batches(), schemas.DOCUMENTS, out)
        record_counts(
            self.staging,
            f"write-{index:05d}",
            {"kept": kept, "dropped": {reasons.NEAR_DUPLICATE: total - kept}},
        )


def find_edges(pipeline, parts, cfg: NearDedupConfig, partitions: int, staging: str, view):
    """Pipeline 1: documents -> band keys -> candidate edges (star_rounds' round 0)."""
    return (
        pipeline
        | "Parts" >> beam.Create(parts)
        | "Reshuffle" >> beam.Reshuffle()
        | "Bands" >> beam.ParDo(Bands(cfg, partitions, staging, view is not None))
        | "GroupBuckets" >> beam.GroupByKey()
        | "StarEdges" >> beam.ParDo(StarEdges(staging, view))
    )


def resolve(pipeline, stars, parts, cfg: NearDedupConfig, partitions: int, staging: str, view):
    """Pipeline 2: settled stars -> candidates per documents part -> verified clusters per
    component partition -> removals per documents part -> surviving documents.

    One chain with one terminal transform: runners that compute only a pipeline's last
    value (Beam's DaskRunner) still run every step. Every part reaches Survivors, with
    or without removals, through the flattened (N, None) elements.
    """
    removals = (
        pipeline
        | "Stars" >> beam.Create(stars)
        | "SpreadStars" >> beam.Reshuffle()
        | "Members" >> beam.ParDo(Members(staging))
        | "GroupByPart" >> beam.GroupByKey()
        | "Candidates" >> beam.ParDo(Candidates(cfg, parts, partitions, staging, view))
        | "GroupComponents" >> beam.GroupByKey()
        | "Verify" >> beam.ParDo(Verify(cfg, staging))
    )
    every_part = pipeline | "EveryPart" >> beam.Create([(index, None) for index, _, _ in parts])
    return (
        (removals, every_part)
        | "WithEveryPart" >> beam.Flatten()
        | "GroupRemovals" >> beam.GroupByKey()
        | "Survivors" >> beam.ParDo(Survivors(parts, staging))
    )


def write_clusters(staging: Path) -> None:
    """The partitions' sorted cluster rows -> dedup/clusters.parquet, merged as a stream
    (byte for byte the file one sort of all rows would give, without holding them)."""
    runs = [arrow_batches(p) for p in sorted((staging / CLUSTER_RUNS).glob("*.arrow"))]
    out = staging / CLUSTERS_OUT
    rows = io.write_parquet_batches(
        merge_sorted(runs, list(CLUSTER_ORDER)), schemas.NEAR_CLUSTERS, out, CLUSTER_GROUP_ROWS
    )
    if rows == 0:
        io.write_parquet(schemas.empty(schemas.NEAR_CLUSTERS), out)


def run(ctx: StageContext, cfg: NearDedupConfig, docs: DocSet | str, upstream: str) -> dict:
    """Near-dedup the document set `docs` (see pipelines.docsets), written by `upstream`."""
    docs = DocSet.parse(docs)
    removed = docs.removed_map(ctx.run_dir)
    # output part N holds what survives of input part N (input parts in name order)
    parts = [
        (i, path, removed.get(path, ())) for i, path in enumerate(docs.part_paths(ctx.run_dir))
    ]
    bands, rows = cfg.band_rows()

    def body(staging: Path) -> dict:
        staging_dir = str(staging)
        with make_pipeline(ctx.beam_args) as p:
            find_edges(p, parts, cfg, ctx.partitions, staging_dir, ctx.collection)
        counts = read_counts(staging)
        stars, rounds = star_rounds.run_rounds(ctx.beam_args, staging_dir, ctx.partitions)
        with make_pipeline(ctx.beam_args) as p:
            resolve(p, stars, parts, cfg, ctx.partitions, staging_dir, ctx.collection)
        counts = merge_counts([counts, read_counts(staging)])
        write_clusters(staging)
        for key in ("in", "kept", "candidates", "clusters", "clustered_docs", "no_shingles"):
            counts.setdefault(key, 0)
        counts.setdefault("dropped", {})
        counts["dropped"].setdefault(reasons.NEAR_DUPLICATE, 0)
        counts.update(bands=bands, rows=rows, component_rounds=rounds)
        check_keep_field(cfg, counts)
        return counts

    config = {"near_dedup": cfg.model_dump(), "input": str(docs), "partitions": ctx.partitions}
    published = [DOCS_OUT, CLUSTERS_OUT]
    if ctx.collection is not None:
        config["collection"] = ctx.collection.identity()
        published += [collection.contributions_out(k) for k in ("near_bands", "near_sigs")]
    return run_stage(ctx, STAGE, config, [upstream], published, body)


STAGE_DEF = Stage(
    name=STAGE,
    config=NearDedupConfig,
    run=run,
    reads="documents",
    writes=(DOCS_OUT, CLUSTERS_OUT),
    reasons=(reasons.NEAR_DUPLICATE,),
    passes_on=lambda docs, cfg: DocSet(DOCS_OUT),
    description="near duplicates by MinHash + LSH",
)
