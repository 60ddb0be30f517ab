"""Connected components of a partitioned edge list, as rounds of Beam pipelines.

Each round is one pipeline with two shuffles: large-star groups every node's edges (both
directions) by the node's hash partition, small-star groups each edge by its larger end
(scorers.components has the two steps and why they converge). A worker holds one
partition's edges at a time, never the whole graph, so its memory follows the edges per
partition, not the corpus. The rounds stop when large-star finds every node settled: the
edges then form one star per component, centred on its smallest id.

Beam has no loops inside a pipeline, so this module runs them: round r reads the edge
files round r-1 wrote (`<staging>/_cc/rNNN/pPPPPP.arrow`, one per partition, written
atomically under a fixed name, so a retried bundle rewrites rather than adds) and the
stage body checks the counts between rounds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import apache_beam as beam
import pyarrow as pa

from thresher.pipelines.beam_util import (
    make_pipeline,
    read_arrow,
    record_counts,
    spill,
    split_by_partition,
    unspilled,
    write_arrow,
)
from thresher.pipelines.stage import read_counts
from thresher.scorers.components import both_directions, from_larger_end, large_star, small_star

MAX_ROUNDS = 100  # O(log^2 n) in theory; 12 for a 20,000-node path in random id order
ROUNDS_DIR = "_cc"


def round_dir(staging: str | Path, r: int) -> Path:
    return Path(staging) / ROUNDS_DIR / f"r{r:03d}"


def _by_node(rows: pa.Table, staging: str, partitions: int):
    """(partition of the row's node, spilled rows) for a table of neighbour rows."""
    keys = rows["node"].to_pylist()
    for part, chunk in split_by_partition(rows, keys, partitions):
        yield part, spill(chunk, staging, part)


class Scatter(beam.DoFn):
    """An edge file -> every edge from both ends, to the partitions of those ends."""

    def __init__(self, staging: str, partitions: int):
        self.staging, self.partitions = staging, partitions

    def process(self, path):
        yield from _by_node(both_directions(read_arrow(path)), self.staging, self.partitions)


class LargeStar(beam.DoFn):
    """One partition's nodes with all their edges -> re-attached edges, to the partitions of
    their larger ends; the partition's count of unsettled nodes goes to the round's counts."""

    def __init__(self, staging: str, partitions: int, r: int):
        self.staging, self.partitions, self.r = staging, partitions, r

    def process(self, element):
        partition, paths = element
        with unspilled(paths) as rows:
            edges, unsettled = large_star(rows)
        name = f"cc-r{self.r:03d}-{partition:05d}"
        record_counts(self.staging, name, {"cc_unsettled": unsettled})
        if edges.num_rows:
            yield from _by_node(from_larger_end(edges), self.staging, self.partitions)


class SmallStar(beam.DoFn):
    """One partition's edges, seen from their larger ends -> the round's edge file."""

    def __init__(self, staging: str, r: int):
        self.staging, self.r = staging, r

    def process(self, element):
        partition, paths = element
        with unspilled(paths) as rows:
            edges = small_star(rows)
        if edges.num_rows:
            write_arrow(edges, round_dir(self.staging, self.r) / f"p{partition:05d}.arrow")


def edge_files(directory: Path) -> list[str]:
    return sorted(str(p) for p in directory.glob("*.arrow")) if directory.is_dir() else []


def run_rounds(beam_args, staging: str, partitions: int) -> tuple[list[str], int]:
    """Rounds over the edge files in `round_dir(staging, 0)` until every node is settled.

    Returns the final edge files (one star per component: `lo` is the component's
    smallest id, `hi` a member) and the number of rounds. Collects the count files the
    stage's workers wrote so far (see stage.read_counts): call it between pipelines.
    """
    paths, r = edge_files(round_dir(staging, 0)), 0
    while paths:
        r += 1
        if r > MAX_ROUNDS:
            raise RuntimeError(f"connected components did not settle in {MAX_ROUNDS} rounds")
        with make_pipeline(beam_args) as p:
            (
                p
                | "Edges" >> beam.Create(paths)
                | "Spread" >> beam.Reshuffle()
                | "Scatter" >> beam.ParDo(Scatter(staging, partitions))
                | "GroupNodes" >> beam.GroupByKey()
                | "LargeStar" >> beam.ParDo(LargeStar(staging, partitions, r))
                | "GroupLargerEnds" >> beam.GroupByKey()
                | "SmallStar" >> beam.ParDo(SmallStar(staging, r))
            )
        shutil.rmtree(round_dir(staging, r - 1), ignore_errors=True)
        paths = edge_files(round_dir(staging, r))
        if read_counts(Path(staging)).get("cc_unsettled", 0) == 0:
            break
    return paths, r
