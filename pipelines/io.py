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
import struct
import uuid
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
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
DECOMPRESSION_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    isal_zlib.error,
    zstandard.ZstdError,
)


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


def open_input(path: str) -> IO[bytes]:
    """Open an input file for binary reading, decompressing by extension (gzip through
    ISA-L's inflate, 3x the stdlib's). For whole-file readers; ingest reads through
    `read_line_blocks`, which checks every gzip member / zstd frame before trusting it."""
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    kind = _compression(path)
    if kind == "gzip":
        return igzip.IGzipFile(fileobj=raw, mode="rb")
    if kind == "zstd":
        return io.BufferedReader(_ZstdReader(raw, 1 << 20))
    return raw


class _ZstdReader(io.RawIOBase):
    """zstd frames, one after another, decoded as a stream; unlike zstandard's own
    stream_reader it raises EOFError when the input ends inside a frame (a truncated
    file), so the damage is an error instead of a silently shorter file."""

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


# -- checked reading: no byte of a damaged member is ever passed off as intact ----------
#
# Inflate can emit garbage long before the member's CRC (in its trailer) shows the damage,
# so a member's output is only trusted once that trailer verified. Files are therefore read
# twice: a verification pass that only decodes and checks (ISA-L inflates at several
# hundred MB/s, cheap next to parsing), then the reading pass, which labels every byte with
# its member's verdict. A file that decodes to at most HOLD_BYTES keeps its output from the
# first pass and is decoded once. Memory stays bounded either way.
#
# What "verified" means, by format:
# - gzip: the member's CRC-32 and length (ISIZE) in its trailer match its output. A member
#   cut short has no trailer, and deflate has no checksum before it, so nothing proves the
#   bytes before the cut: a truncated member is damaged as a whole (earlier members that
#   verified still count).
# - zstd: the frame decoded to its end without error; libzstd checks the frame's content
#   checksum (XXH64) when the frame has one, and its content size when it records one. A
#   frame written without a checksum (python-zstandard's default; the zstd CLI writes one)
#   carries no integrity data: like a plain .jsonl, what it decodes to is taken as the input.
# - plain files: no integrity data; the bytes are the input.
HOLD_BYTES = 64 << 20
_INPUT_CHUNK = 1 << 20  # compressed bytes fed to a decompressor at a time
_GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1, ID2, CM=deflate
_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 2, 4, 8, 16


class InputChangedError(RuntimeError):
    """The second pass over a file decoded differently from the first: the file changed
    while it was read. Fails the stage: records already passed on cannot be recalled."""


class CorruptInputError(ValueError):
    """Decoded data failed its integrity check (see read_line_blocks)."""


class _Source:
    """A compressed byte stream read in chunks, with bytes given back (a decompressor's
    unused input) read again first."""

    def __init__(self, raw: IO[bytes], chunk: int = _INPUT_CHUNK):
        self.raw, self.chunk, self.pending = raw, chunk, b""

    def read(self) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        return self.raw.read(self.chunk)

    def unread(self, data: bytes) -> None:
        self.pending = data + self.pending

    def exactly(self, n: int, what: str) -> bytes:
        data = b""
        while len(data) < n:
            more = self.read()
            if not more:
                raise EOFError(f"the file ends inside a {what} (truncated file)")
            data += more
        self.unread(data[n:])
        return data[:n]

    def through_nul(self, what: str) -> None:
        while True:
            data = self.read()
            if not data:
                raise EOFError(f"the file ends inside a {what} (truncated file)")
            if (end := data.find(b"\0")) >= 0:
                return self.unread(data[end + 1 :])

    def at_end(self) -> bool:
        """Skip zero padding (allowed after gzip members, as the stdlib reader does); True
        at the end of the input."""
        while data := self.read():
            if data := data.lstrip(b"\0"):
                self.unread(data)
                return False
        return True


def _skip_gzip_header(src: _Source) -> None:
    head = src.exactly(10, "gzip header")
    if head[:3] != _GZIP_MAGIC:
        raise gzip.BadGzipFile(f"not a gzip member header: {head[:3].hex()}")
    flags = head[3]
    if flags & _FEXTRA:
        src.exactly(int.from_bytes(src.exactly(2, "gzip header"), "little"), "gzip header")
    if flags & _FNAME:
        src.through_nul("gzip header")
    if flags & _FCOMMENT:
        src.through_nul("gzip header")
    if flags & _FHCRC:
        src.exactly(2, "gzip header")


def _gzip_members(src: _Source, piece: int) -> Iterator[tuple[int, bytes | str | None]]:
    member = 0
    while not src.at_end():
        _skip_gzip_header(src)
        inflate, crc, size = isal_zlib.decompressobj(-15), 0, 0  # raw deflate: we check
        while not inflate.eof:
            data = inflate.unconsumed_tail or src.read()
            out = inflate.decompress(data, piece)  # bounded: a deflate bomb stays small
            if not data and not out:  # (b"" drains what inflate still holds back)
                raise EOFError(f"the file ends inside gzip member {member + 1} (truncated file)")
            if out:
                crc, size = isal_zlib.crc32(out, crc), size + len(out)
                yield member, out
        src.unread(inflate.unused_data)
        want_crc, want_size = struct.unpack("<II", src.exactly(8, "gzip trailer"))
        if (want_crc, want_size) == (crc, size & 0xFFFFFFFF):
            yield member, None
        else:
            yield (
                member,
                (
                    f"gzip member {member + 1} fails its integrity check (CRC32 "
                    f"{crc:08x}, length {size}; the trailer says {want_crc:08x}, {want_size})"
                ),
            )
        member += 1


def _zstd_frames(src: _Source, piece: int) -> Iterator[tuple[int, bytes | str | None]]:
    member = 0
    while data := src.read():
        frame = zstandard.ZstdDecompressor().decompressobj()
        while True:
            if out := frame.decompress(data):  # raises on a bad checksum: see above
                yield member, out
            if frame.eof:
                break
            if not (data := src.read()):
                raise EOFError(f"the file ends inside zstd frame {member + 1} (truncated file)")
        src.unread(frame.unused_data)
        yield member, None
        member += 1


def _decode(path: str, piece: int) -> Iterator[tuple[int, bytes | str | None]]:
    """A compressed file's output as (member, bytes) pairs; after each member's last piece,
    (member, None) if it verified, else (member, "why not"). Raises one of
    DECOMPRESSION_ERRORS where decoding cannot go on (bad header or data, truncation)."""
    members = _gzip_members if _compression(path) == "gzip" else _zstd_frames
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        yield from members(_Source(raw), piece)


def _verify(path: str, piece: int):
    """The verification pass: ({member: why it is damaged}, the error that stopped
    decoding or None, the decoded pieces if they fit in HOLD_BYTES else None)."""
    damaged: dict[int, str] = {}
    held: list | None = []
    total, member, stop = 0, 0, None
    try:
        for member, event in _decode(path, piece):
            if type(event) is bytes:
                total += len(event)
                if held is not None:
                    held.append((member, event))
                    if total > HOLD_BYTES:
                        held = None  # too big to keep: the reading pass decodes again
            else:
                if event is not None:
                    damaged[member] = event
                member += 1  # a member that fails to start is the next one
    except DECOMPRESSION_ERRORS as exc:
        stop = exc
        damaged[member] = f"{type(exc).__name__}: {exc}; the data before it cannot be verified"
    return damaged, stop, held


def _checked_pieces(path: str, piece: int) -> Iterator[tuple[bytes, str | None]]:
    """(bytes, damage): damage is None for bytes of a member that verified, else why the
    member is damaged. Raises, after the last piece, the error that stopped decoding."""
    damaged, stop, held = _verify(path, piece)
    if held is not None:
        for member, data in held:
            yield data, damaged.get(member)
    else:
        yield from _reread(path, piece, damaged, stop)
    if stop is not None:
        raise stop


def _reread(path: str, piece: int, damaged: dict[int, str], stop) -> Iterator:
    try:
        for member, event in _decode(path, piece):
            if type(event) is bytes:
                yield event, damaged.get(member)
            elif (event is None) != (member not in damaged):
                raise InputChangedError(f"{path} changed while it was read")
    except DECOMPRESSION_ERRORS:
        if stop is None:
            raise InputChangedError(f"{path} changed while it was read") from None
        return
    if stop is not None:
        raise InputChangedError(f"{path} changed while it was read")


def _plain_pieces(path: str, piece: int) -> Iterator[tuple[bytes, None]]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        while data := raw.read(piece):
            yield data, None


def read_line_blocks(
    path: str, block_size: int = 4 << 20
) -> Iterator[tuple[list[bytes], str | None]]:
    """The lines of an input file, decompressed, without their '\\n', in blocks:
    (lines, damage), damage None when every byte of those lines comes from an intact
    member, else why not (a line that spans members is damaged if any of them is).

    Read in big blocks: one call into the decompressor per block rather than per line,
    which is faster and, as the decompressor releases the GIL, lets the worker's other
    threads run meanwhile. Raises one of DECOMPRESSION_ERRORS, after the lines decoded
    before it, where the rest of a file cannot be decoded.
    """
    pieces = _plain_pieces if _compression(path) is None else _checked_pieces
    rest: list[bytes] = []  # the pieces of a line not ended yet (joined once: linear)
    rest_damage = None
    for data, damage in pieces(path, block_size):
        lines = data.split(b"\n")
        if len(lines) == 1:
            rest.append(data)
            rest_damage = rest_damage or damage
            continue
        if rest:
            rest.append(lines[0])
            lines[0] = b"".join(rest)
        last = lines.pop()
        if rest_damage and not damage:  # only the first line has the earlier member's bytes
            yield lines[:1], rest_damage
            del lines[0]
        if lines:
            yield lines, damage
        # a line that starts right after a damaged byte is damaged too: that '\n' may be
        # garbage, making the start of the next member look like the start of a record
        rest, rest_damage = [last], damage
    if tail := b"".join(rest):
        yield [tail], rest_damage


def read_lines(path: str, block_size: int = 4 << 20) -> Iterator[bytes]:
    """The lines of an input file, without their '\\n'; raises CorruptInputError at the
    first line of a damaged gzip member / zstd frame instead of passing it on."""
    for lines, damage in read_line_blocks(path, block_size):
        if damage:
            raise CorruptInputError(f"{path}: {damage}")
        yield from lines


def read_parquet_file(path: str) -> pq.ParquetFile:
    # buffer_size: column chunks are read in 1 MiB pieces while iterating batches, instead of
    # a whole row group (up to 64k documents, ~250 MB of text) at once
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    # page checksums: a flipped byte in a page we wrote fails the read instead of becoming
    # data (files written without them, e.g. a user's inputs, are read as before)
    return pq.ParquetFile(raw, buffer_size=1 << 20, page_checksum_verification=True)


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")


def write_parquet(
    table: pa.Table, path: str | os.PathLike, row_group_size: int = 64 * 1024
) -> Path:
    """Write a Parquet file atomically (temporary name, then rename). Small row groups let a
    reader of a file sorted by a key skip to the rows it wants (see `row_groups_with`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        row_group_size=row_group_size,
        write_page_checksum=True,
        use_dictionary=_dictionary_columns(table.schema),
    )
    os.replace(tmp, path)
    return path


def row_groups_with(pf: pq.ParquetFile, column: str, wanted: np.ndarray) -> list[int]:
    """The row groups of a Parquet file whose [min, max] of `column` holds one of the
    sorted values `wanted`: a lookup reads those, not the file (groups without statistics
    are always read)."""
    index = pf.schema_arrow.get_field_index(column)

    def may_hold(stats) -> bool:
        if stats is None or not stats.has_min_max:
            return True  # nothing tells: read it
        return np.searchsorted(wanted, stats.max, "right") > np.searchsorted(wanted, stats.min)

    groups = range(pf.metadata.num_row_groups)
    return [g for g in groups if may_hold(pf.metadata.row_group(g).column(index).statistics)]


def write_parquet_batches(
    tables: Iterable[pa.Table],
    schema: pa.Schema,
    path: str | os.PathLike,
    row_group_rows: int | None = None,
) -> int:
    """Stream tables into one Parquet file atomically, so memory is about one row group,
    not the file. Returns rows written; writes no file for 0 rows. With `row_group_rows`
    the file is byte for byte what `write_parquet` writes for the concatenated tables with
    that row_group_size."""
    with ParquetStream(path, schema, row_group_rows=row_group_rows) as out:
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

    def __init__(
        self,
        path: str | os.PathLike,
        schema: pa.Schema,
        row_group_bytes: int = 16 << 20,
        row_group_rows: int | None = None,
    ):
        self.path, self.schema, self.row_group_bytes = Path(path), schema, row_group_bytes
        self.row_group_rows = row_group_rows  # exact rows per group, as write_parquet cuts
        self.tmp, self.writer, self.rows = _tmp_name(self.path), None, 0
        self._pending: list[pa.Table] = []
        self._pending_bytes = self._pending_rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self.row_group_rows:
            while self._pending_rows >= self.row_group_rows:
                self._flush(self.row_group_rows)
        elif self._pending_bytes >= self.row_group_bytes:
            self._flush()

    def _flush(self, rows: int | None = None) -> None:
        if not self._pending:
            return
        if rows is not None and rows < self._pending_rows:  # cut a group, keep the rest
            pending = pa.concat_tables(self._pending)
            self._pending = [pending.slice(0, rows)]
            rest = pending.slice(rows)
        else:
            rest = None
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(
                self.tmp,
                self.schema,
                compression="zstd",
                write_page_checksum=True,
                use_dictionary=_dictionary_columns(self.schema),
            )
        table = pa.concat_tables([t.cast(self.schema) for t in self._pending])
        self.writer.write_table(table, row_group_size=table.num_rows)
        self._pending = [] if rest is None else [rest]
        self._pending_rows = 0 if rest is None else rest.num_rows
        self._pending_bytes = 0 if rest is None else rest.nbytes

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
