"""Pretoken counting (Beam) and merge replay per category, for mixture inference.

Counting: one element per (category, file) -> read document batches, normalise and
pre-tokenise with the tokenizer's own pipeline, count pretokens per batch ->
CombinePerKey(category) sums the counters -> one Parquet table per category
(`pretoken`, `count`, sorted) plus a JSON sidecar with the sample's bytes and documents.

The cache key is the tokenizer's *pre-tokeniser* fingerprint plus the category's name, files
(path, size, mtime) and byte cap: counts do not depend on the merges, so every tokenizer that
splits text alike (every trial of a controlled experiment, say) reuses them. The sidecar is
written last, so a table without one is never read.

Replay: each category's pretokens are replayed through the first T merges in its own process
(categories run in parallel), over one symbol table shared by all categories.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from thresher.pipelines import io, schemas
from thresher.pipelines.beam_util import make_pipeline
from thresher.pipelines.records import ReaderSettings, RecordReader
from thresher.pipelines.stage import fingerprint
from thresher.scorers.bpe_tokenizers import BYTE_CHARS, BPESpec
from thresher.scorers.errors import ConfigError
from thresher.scorers.merge_replay import Replay, SymbolTable, replay_pretokens


@dataclass(frozen=True)
class Category:
    name: str
    files: tuple[str, ...]


def parse_categories(items: list[str]) -> list[Category]:
    """['web=data/web/*.jsonl', 'code=src/*.parquet', 'web=more/'] -> categories in order."""
    globs: dict[str, list[str]] = {}
    for item in items or []:
        name, sep, pattern = item.partition("=")
        if not sep or not name.strip() or not pattern.strip():
            raise ConfigError(
                f"--category '{item}' is not NAME=GLOB (e.g. --category code='src/*.jsonl')"
            )
        globs.setdefault(name.strip(), []).append(pattern.strip())
    if not globs:
        raise ConfigError("give at least one --category NAME=GLOB")
    return [Category(n, tuple(io.expand_inputs(g))) for n, g in globs.items()]


def cache_paths(cache_dir: Path, spec: BPESpec, cat: Category, max_bytes: int | None):
    key = fingerprint(cat.name, [io.file_fingerprint(f) for f in cat.files], max_bytes)
    base = Path(cache_dir) / spec.pretokenizer_fingerprint / f"{cat.name}-{key}"
    return base.with_suffix(".parquet"), base.with_suffix(".json")


class CountFile(beam.DoFn):
    """(category, path) -> (category, (Counter, bytes, docs)) per document batch."""

    def __init__(self, spec: BPESpec, max_bytes: int | None):
        self.spec = spec
        self.max_bytes = max_bytes

    def setup(self):
        self.reader = RecordReader(ReaderSettings(batch_size=500, max_chars=100_000_000))

    def process(self, element):
        category, path = element
        budget = self.max_bytes
        for docs, _rejects, _seen in self.reader.read_file(path):
            counts: Counter = Counter()
            n_bytes = n_docs = 0
            for text in docs.column("text").to_pylist():
                if budget is not None and n_bytes >= budget:
                    break
                counts.update(self.spec.pretokenize(text))
                n_bytes += len(text.encode("utf-8", "surrogatepass"))
                n_docs += 1
            yield category, (counts, n_bytes, n_docs)
            if budget is not None:
                budget -= n_bytes
                if budget <= 0:
                    return


class SumCounts(beam.CombineFn):
    def create_accumulator(self):
        return Counter(), 0, 0

    def add_input(self, acc, item):
        acc[0].update(item[0])
        return acc[0], acc[1] + item[1], acc[2] + item[2]

    def merge_accumulators(self, accs):
        total, b, d = Counter(), 0, 0
        for c, nb, nd in accs:
            total.update(c)
            b, d = b + nb, d + nd
        return total, b, d

    def extract_output(self, acc):
        return acc


def _write(element, targets: dict):
    name, (counts, n_bytes, n_docs) = element
    table_path, meta_path = targets[name]
    keys = sorted(counts)
    io.write_parquet(
        pa.table(
            {"pretoken": keys, "count": [counts[k] for k in keys]}, schema=schemas.PRETOKEN_COUNTS
        ),
        table_path,
    )
    io.write_json(
        {"category": name, "bytes": n_bytes, "docs": n_docs, "pretokens": len(keys)}, meta_path
    )


def count_pretokens(
    spec: BPESpec,
    categories: list[Category],
    cache_dir: str | Path,
    max_bytes: int | None = None,
    beam_args: list[str] | None = None,
) -> dict:
    """Count (or reuse) every category's pretokens; returns {name: (table path, meta)}.

    `max_bytes` caps the text read from each input file (documents in file order)."""
    targets = {c.name: cache_paths(Path(cache_dir), spec, c, max_bytes) for c in categories}
    todo = [c for c in categories if not targets[c.name][1].exists()]
    if todo:
        with make_pipeline(beam_args) as p:
            _ = (
                p
                | "Files" >> beam.Create([(c.name, f) for c in todo for f in c.files])
                | "Reshuffle" >> beam.Reshuffle()
                | "Count" >> beam.ParDo(CountFile(spec, max_bytes))
                | "Sum" >> beam.CombinePerKey(SumCounts())
                | "Write" >> beam.Map(_write, {c.name: targets[c.name] for c in todo})
            )
    return {c.name: (targets[c.name][0], io.read_json(targets[c.name][1])) for c in categories}


def _replay_one(args) -> Replay:
    table_path, spec, merges, extra = args
    t = pq.read_table(table_path)
    table = SymbolTable.build(merges, spec.merged, extra)
    return replay_pretokens(
        t.column("pretoken").to_pylist(), t.column("count").to_numpy(), merges, spec, table
    )


def initial_alphabet(spec: BPESpec, table_paths: list[Path]) -> list[str]:
    """Symbols every category's words start from, so all replays share one symbol table."""
    if spec.byte_level:
        return list(BYTE_CHARS.values())
    syms: set[str] = set()
    for path in table_paths:
        for p in pq.read_table(path, columns=["pretoken"]).column("pretoken").to_pylist():
            syms.update(spec.initial_symbols(p))
    return sorted(syms)


def replay_categories(
    spec: BPESpec, table_paths: list[Path], merges_used: int, workers: int | None = None
) -> list[Replay]:
    """Replay the first `merges_used` merges for every category, in parallel processes."""
    merges = spec.merges[:merges_used]
    extra = initial_alphabet(spec, table_paths)
    spec_light = BPESpec(**{**spec.__dict__, "merges": [], "_pipeline": None})
    jobs = [(p, spec_light, merges, extra) for p in table_paths]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if workers <= 1 or len(jobs) == 1:
        return [_replay_one(j) for j in jobs]
    # spawn, not fork: the caller may be a Prefect flow with live threads and locks.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_replay_one, jobs))


def sample_bytes(metas: list[dict]) -> np.ndarray:
    return np.array([m["bytes"] for m in metas], dtype=np.float64)
