"""The documents a stage reads: the parts one stage wrote, minus the ids that later stages
removed.

Text is written once, by ingest. A stage that only removes documents (exact dedup) writes
its decisions as a keyed table whose parts carry the same names as the documents parts
they refer to, so a reader drops them part by part, never holding a global id set.

A document set is written `documents/stage=ingest - dedup/exact` in run.json
(`final_documents`) and in stage configs; `DocSet.parse` reads that form back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from thresher.pipelines import io

_MINUS = " - "


@dataclass(frozen=True)
class DocSet:
    parts: str  # run-relative directory of documents parts
    minus: tuple[str, ...] = ()  # run-relative directories of removed-id parts

    def __str__(self) -> str:
        return _MINUS.join((self.parts, *self.minus))

    @classmethod
    def parse(cls, spec: str | DocSet) -> DocSet:
        if isinstance(spec, DocSet):
            return spec
        head, *rest = spec.split(_MINUS)
        return cls(head, tuple(rest))

    def without(self, removed_dir: str) -> DocSet:
        """This set minus the ids in the parts under `removed_dir`."""
        return DocSet(self.parts, (*self.minus, removed_dir))

    def part_paths(self, run_dir: Path) -> list[str]:
        return [str(p) for p in io.iter_parts(Path(run_dir) / self.parts)]

    def read(self, run_dir: Path, columns: list[str] | None = None) -> pa.Table:
        """The whole set as one table (for small runs, tests and notebooks)."""
        removed = self.removed_map(run_dir)
        tables = [read_part(p, removed.get(p, ()), columns) for p in self.part_paths(run_dir)]
        return pa.concat_tables(tables) if tables else pa.table({})

    def removed_map(self, run_dir: Path) -> dict[str, tuple[str, ...]]:
        """Documents part path -> the removed-id parts that apply to it (those that exist)."""
        out = {}
        for path in self.part_paths(run_dir):
            name = Path(path).name
            found = tuple(str(p) for d in self.minus if (p := Path(run_dir) / d / name).exists())
            if found:
                out[path] = found
        return out


def _removed_ids(removed: tuple[str, ...] | list[str]) -> pa.Array | None:
    if not removed:
        return None
    return io.read_table(list(removed), columns=["id"]).column("id").combine_chunks()


def read_batches(
    path: str, removed=(), batch_size: int = 4096, columns: list[str] | None = None
) -> Iterator[pa.Table]:
    """A documents part as tables of up to `batch_size` rows, without the removed ids."""
    drop = _removed_ids(removed)
    read = columns if columns is None or drop is None or "id" in columns else [*columns, "id"]
    for rb in io.read_parquet_file(path).iter_batches(batch_size=batch_size, columns=read):
        table = pa.Table.from_batches([rb])
        if drop is not None:
            table = table.filter(pc.invert(pc.is_in(table.column("id"), value_set=drop)))
            if columns is not None:
                table = table.select(columns)
        yield table


def read_part(path: str, removed=(), columns: list[str] | None = None) -> pa.Table:
    """A whole documents part, without the removed ids."""
    tables = list(read_batches(path, removed, 1 << 16, columns))
    if tables:
        return pa.concat_tables(tables)
    schema = io.read_parquet_file(path).schema_arrow
    return schema.empty_table().select(columns) if columns else schema.empty_table()
