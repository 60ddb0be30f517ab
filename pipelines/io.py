"""The one place that opens files: input discovery and decoding, atomic output writes.

Inputs go through Beam's `FileSystems`, so any Beam filesystem (gs://, s3://, hdfs://)
works wherever the matching extra is installed. Outputs are written to a temporary name
and renamed, so a crash never leaves a half file that looks complete.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from scorers.errors import InputError

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
UNIQUE_COLUMNS = {"id", "text", "raw", "kept_id", "text_hash", "metadata"}
COMPRESSED_SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def expand_inputs(patterns: Iterable[str]) -> list[str]:
    """Resolve paths and globs to a sorted, de-duplicated list of files.

    >>> expand_inputs(["data/*.jsonl.gz"])  # doctest: +SKIP
    ['data/a.jsonl.gz', 'data/b.jsonl.gz']
    """
    files: set[str] = set()
    for pattern in patterns:
        pattern = str(pattern)
        if "://" not in pattern and Path(pattern).is_dir():
            pattern = os.path.join(pattern, "**")
        try:
            matched = FileSystems.match([pattern])[0].metadata_list
        except Exception as exc:  # Beam raises several types for a bad scheme or path
            raise InputError(f"cannot list input '{pattern}': {exc}") from None
        found = [m.path for m in matched if file_format(m.path) is not None]
        if not found:
            raise InputError(
                f"no input files match '{pattern}': check the path, or quote the glob "
                "so the shell does not expand it (supported: .jsonl/.json/.ndjson[.gz|.zst], .parquet)"
            )
        files.update(found)
    return sorted(files)


def file_fingerprint(path: str) -> list:
    """[path, size, mtime]: what decides whether an input file changed since a run."""
    meta = FileSystems.match([path])[0].metadata_list[0]
    return [path, meta.size_in_bytes, getattr(meta, "last_updated_in_seconds", None)]


def file_format(path: str) -> str | None:
    """'jsonl' or 'parquet' by file name, None for files we do not read."""
    name = path.lower()
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


def file_stem(path: str) -> str:
    """'a/b/web.jsonl.gz' -> 'web'."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (*COMPRESSED_SUFFIXES, ".parquet", *JSONL_SUFFIXES):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def open_input(path: str) -> IO[bytes]:
    """Open an input file for binary reading, decompressing by extension."""
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    kind = next((v for k, v in COMPRESSED_SUFFIXES.items() if path.lower().endswith(k)), None)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "zstd":
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))
    return raw


def read_parquet_file(path: str) -> pq.ParquetFile:
    # buffer_size: column chunks are read in 1 MiB pieces while iterating batches, instead of
    # a whole row group (up to 64k documents, ~250 MB of text) at once
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return pq.ParquetFile(raw, buffer_size=1 << 20)


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")


def write_parquet(table: pa.Table, path: str | os.PathLike) -> Path:
    """Write a Parquet file atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    # Dictionary-encoding text or ids is wasted work (every value is distinct).
    dictionary = [f.name for f in table.schema
                  if f.name not in UNIQUE_COLUMNS and f.type != pa.large_string()]
    pq.write_table(table, tmp, compression="zstd", row_group_size=64 * 1024,
                   use_dictionary=dictionary)
    os.replace(tmp, path)
    return path


def write_parquet_batches(tables: Iterable[pa.Table], schema: pa.Schema, path: str | os.PathLike) -> int:
    """Stream tables into one Parquet file atomically, one row group per non-empty table,
    so memory is one table, not the file. Returns rows written; writes no file for 0 rows."""
    path = Path(path)
    tmp, writer, rows = _tmp_name(path), None, 0
    try:
        for table in tables:
            if table.num_rows == 0:
                continue
            if writer is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                dictionary = [f.name for f in schema
                              if f.name not in UNIQUE_COLUMNS and f.type != pa.large_string()]
                writer = pq.ParquetWriter(tmp, schema, compression="zstd", use_dictionary=dictionary)
            writer.write_table(table.cast(schema))
            rows += table.num_rows
        if writer is not None:
            writer.close()
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write a JSON file atomically, pretty and key-sorted so diffs stay readable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return path


def write_text(text: str, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_with(save, path: str | os.PathLike) -> Path:
    """Atomic write through a library's own saver: `save(tmp_path)`, then rename.

    >>> write_with(model.save_model, "out/model.bin")  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        save(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def read_table(paths: Iterable[str | os.PathLike], columns: list[str] | None = None) -> pa.Table:
    """Concatenate Parquet files (possibly none) into one table."""
    tables = [pq.read_table(p, columns=columns) for p in paths]
    if not tables:
        raise InputError("no Parquet files to read")
    return pa.concat_tables(tables, promote_options="default")


def parquet_rows(paths: Iterable[str | os.PathLike]) -> int:
    """Row count from Parquet footers only (no data pages read)."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def iter_parts(directory: str | os.PathLike) -> Iterator[Path]:
    """The part files of a table directory, in name order."""
    d = Path(directory)
    if d.is_dir():
        yield from sorted(p for p in d.glob("part-*.parquet"))
