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
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from isal import igzip, isal_zlib
from thresher.scorers.errors import InputError

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
UNIQUE_COLUMNS = {"id", "text", "raw", "kept_id", "text_hash", "metadata"}
COMPRESSED_SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
# What reading a damaged (truncated, corrupt) input file can raise.
DECOMPRESSION_ERRORS = (OSError, EOFError, ValueError, zlib.error, isal_zlib.error, zstandard.ZstdError)


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
    """[path, size, mtime]: what decides whether a file changed since a run. The one
    definition for inputs, models and cached counts; remote files through Beam's filesystems."""
    try:
        found = FileSystems.match([str(path)])[0].metadata_list
    except (OSError, ValueError) as exc:  # Beam raises several types for a bad scheme or path
        raise InputError(f"cannot read {path}: {exc}") from None
    if not found:
        raise InputError(f"{path} does not exist: check the path")
    meta = found[0]
    return [str(path), meta.size_in_bytes, getattr(meta, "last_updated_in_seconds", None)]


def list_inputs(patterns: Iterable[str]) -> list[list]:
    """The input files of a run, listed and fingerprinted once: [[path, size, mtime], ...]
    in path order. Ingest reads exactly these files."""
    return [file_fingerprint(f) for f in expand_inputs(patterns)]


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


def _compression(path: str) -> str | None:
    return next((v for k, v in COMPRESSED_SUFFIXES.items() if path.lower().endswith(k)), None)


def open_input(path: str, careful: bool = False) -> IO[bytes]:
    """Open an input file for binary reading, decompressing by extension.

    gzip goes through ISA-L's inflate (3x the stdlib's). `careful` trades speed for
    salvage: the stdlib gzip reader, and zstd fed in small pieces, give back more of a
    damaged file's good lines before they raise.
    """
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    kind = _compression(path)
    if kind == "gzip":
        if careful:
            return gzip.GzipFile(fileobj=raw, mode="rb")
        return igzip.IGzipFile(fileobj=raw, mode="rb")
    if kind == "zstd":
        return io.BufferedReader(_ZstdReader(raw, 4096 if careful else 1 << 20))
    return raw


class _ZstdReader(io.RawIOBase):
    """zstd frames, one after another, decoded as a stream; unlike zstandard's own
    stream_reader it raises EOFError when the input ends inside a frame (a truncated
    file), so the damage becomes a reject instead of a silently shorter file. Input is fed
    `chunk` bytes at a time; small chunks lose less of a corrupt file before the damage."""

    def __init__(self, raw, chunk: int):
        self.raw, self.chunk, self.pending = raw, chunk, b""
        self.frame = zstandard.ZstdDecompressor().decompressobj()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            if self.frame.eof:  # the next frame starts with what the last one left over
                left = self.frame.unused_data
                self.frame = zstandard.ZstdDecompressor().decompressobj()
                chunk = left or self.raw.read(self.chunk)
                if not chunk:
                    return 0
            else:
                chunk = self.raw.read(self.chunk)
                if not chunk:
                    raise EOFError("zstd input ended inside a frame (truncated file)")
            self.pending = self.frame.decompress(chunk)
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def read_lines(path: str, block_size: int = 4 << 20) -> Iterator[bytes]:
    """The lines of an input file, decompressed, without their '\\n'.

    Read in big blocks: one call into the decompressor per block rather than per line,
    which is faster and, as the decompressor releases the GIL, lets the worker's other
    threads run meanwhile. A block lost to damage (a truncated or corrupt file) would
    hide the good lines before the damage, so then the rest is read again line by line
    with the stdlib decompressor, which yields every line up to the damage and raises there.
    """
    done = 0
    try:
        with open_input(path) as stream:
            read = getattr(stream, "read1", stream.read)  # at most one raw read per call
            rest: list[bytes] = []  # the pieces of a line not ended yet (joined once: linear)
            while block := read(block_size):
                lines = block.split(b"\n")
                if len(lines) == 1:
                    rest.append(block)
                    continue
                if rest:
                    rest.append(lines[0])
                    lines[0] = b"".join(rest)
                rest = [lines.pop()]
                done += len(lines)
                yield from lines
            if tail := b"".join(rest):
                yield tail
    except DECOMPRESSION_ERRORS:
        if _compression(path) is None:
            raise
        with open_input(path, careful=True) as stream:
            for i, line in enumerate(stream):
                if i >= done:
                    yield line[:-1] if line.endswith(b"\n") else line


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
    pq.write_table(table, tmp, compression="zstd", row_group_size=64 * 1024,
                   use_dictionary=_dictionary_columns(table.schema))
    os.replace(tmp, path)
    return path


def write_parquet_batches(tables: Iterable[pa.Table], schema: pa.Schema, path: str | os.PathLike) -> int:
    """Stream tables into one Parquet file atomically, so memory is about one row group,
    not the file. Returns rows written; writes no file for 0 rows."""
    with ParquetStream(path, schema) as out:
        for table in tables:
            out.write(table)
    return out.rows


class ParquetStream:
    """One Parquet file written from a stream of tables, atomically: nothing appears at
    `path` until the stream closes cleanly, and a stream that saw no rows leaves no file.
    Small tables are gathered into row groups of about `row_group_bytes`.

        with ParquetStream(path, schema) as out:
            out.write(table)
    """

    def __init__(self, path: str | os.PathLike, schema: pa.Schema, row_group_bytes: int = 16 << 20):
        self.path, self.schema, self.row_group_bytes = Path(path), schema, row_group_bytes
        self.tmp, self.writer, self.rows = _tmp_name(self.path), None, 0
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        self.rows += table.num_rows
        if self._pending_bytes >= self.row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd",
                                           use_dictionary=_dictionary_columns(self.schema))
        table = pa.concat_tables([t.cast(self.schema) for t in self._pending])
        self.writer.write_table(table, row_group_size=table.num_rows)
        self._pending, self._pending_bytes = [], 0

    def close(self) -> int:
        self._flush()
        if self.writer is not None:
            self.writer.close()
            os.replace(self.tmp, self.path)
        return self.rows

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> ParquetStream:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    # Dictionary-encoding text or ids is wasted work (every value is distinct).
    return [f.name for f in schema if f.name not in UNIQUE_COLUMNS and f.type != pa.large_string()]


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
