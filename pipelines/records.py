"""Turning raw input records into documents or rejects: the per-record rules of ingest.

Pure Python, no Beam: `RecordReader.read_file(path)` yields Arrow batches of documents
and of rejects, so the rules are testable without a pipeline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pyarrow as pa
from thresher.pipelines import io, reasons, schemas
from thresher.scorers.textnorm import for_storage

_MISSING = object()
# A batch ends at batch_size records or this much text, whichever comes first, so a file
# of huge documents does not hold thousands of them in memory at once.
BATCH_CHARS = 32 << 20


@dataclass(frozen=True)
class ReaderSettings:
    text_field: str = "text"
    id_field: str = "id"
    source: str | None = None
    max_chars: int = 1_000_000
    raw_chars: int = 2000
    batch_size: int = 2000


class _Batch:
    """Column buffers for one output batch of documents and one of rejects."""

    def __init__(self):
        self.docs = {name: [] for name in schemas.DOCUMENTS.names}
        self.rejects = {name: [] for name in schemas.REJECTS.names}
        self.chars = 0  # of document text: a batch also ends at BATCH_CHARS

    def tables(self) -> tuple[pa.Table, pa.Table]:
        return (
            pa.table(self.docs, schema=schemas.DOCUMENTS),
            pa.table(self.rejects, schema=schemas.REJECTS),
        )


def derived_id(path: str, line: int) -> str:
    """A stable id for a record without one: its location (file name + record number).

    Location, not content: two identical texts stay two documents, so exact dedup (with
    its documented keeper) decides between them rather than an id clash.
    """
    return hashlib.sha1(f"{path}\n{line}".encode()).hexdigest()[:20]


def _diagnose(raw_line: bytes, exc: Exception):
    """Why orjson refused a line: (obj, None, None) if the record is fine after all (the
    stdlib parser takes NaN and Infinity, which orjson refuses), else (None, reason, detail)."""
    try:
        decoded = raw_line.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, reasons.INVALID_UTF8, str(err)
    try:
        obj = json.loads(decoded)
    except ValueError:
        return None, reasons.INVALID_JSON, str(exc)
    try:  # escaped lone surrogates ("\\ud800") anywhere: not text at all
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None, reasons.INVALID_UTF8, "the record holds unpaired surrogates"
    try:  # what orjson cannot write back either (integers over 64 bits)
        orjson.dumps(obj)
    except TypeError as err:
        return None, reasons.INVALID_JSON, f"{err}: {exc}"
    return obj, None, None


class RecordReader:
    def __init__(self, settings: ReaderSettings):
        self.s = settings

    # -- one record -------------------------------------------------------------------
    def _reject(self, batch: _Batch, reason, path, line, detail, raw, rec_id=None):
        """`raw`: the record's bytes (JSONL), a callable giving its text (Parquet), or None."""
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace").rstrip("\n")
        elif callable(raw):
            raw = raw()
        r = batch.rejects
        r["reason"].append(reason)
        r["file"].append(path)
        r["line"].append(line)
        r["id"].append(rec_id)
        r["detail"].append(detail)
        r["raw"].append(raw[: self.s.raw_chars] if raw is not None else None)

    def _add_record(self, batch: _Batch, obj, path: str, line: int, stem: str, raw) -> None:
        # The hot path of ingest: plain lookups first, the reason for a reject only when
        # there is one, and no copy of the record unless it has metadata to keep.
        s = self.s
        if type(obj) is not dict:
            return self._reject(
                batch, reasons.NOT_AN_OBJECT, path, line,
                f"expected a JSON object, got {type(obj).__name__}", raw,
            )
        text = obj.get(s.text_field, _MISSING)
        raw_id = obj.get(s.id_field)
        rec_id = str(raw_id) if isinstance(raw_id, str | int) and raw_id != "" else None
        if type(text) is not str or not text or len(text) > s.max_chars or text.isspace():
            return self._reject_text(batch, text, path, line, raw, rec_id)
        text = for_storage(text)
        source = obj.get("source")
        if type(source) is not str or not source:
            source = s.source or stem
        known = len(obj.keys() & {s.text_field, s.id_field, "source"})
        d = batch.docs
        d["id"].append(rec_id if rec_id is not None else derived_id(path, line))
        d["source"].append(source)
        d["text"].append(text)
        d["n_chars"].append(len(text))
        batch.chars += len(text)
        d["file"].append(path)
        d["line"].append(line)
        if len(obj) > known:
            meta = {k: v for k, v in obj.items() if k not in (s.text_field, s.id_field, "source")}
            d["metadata"].append(orjson.dumps(meta, default=str, option=orjson.OPT_SORT_KEYS).decode())
        else:
            d["metadata"].append(None)

    def _reject_text(self, batch: _Batch, text, path, line, raw, rec_id) -> None:
        s = self.s
        if text is _MISSING or text is None:
            reason, detail = reasons.MISSING_TEXT, f"no '{s.text_field}' field"
        elif not isinstance(text, str):
            reason = reasons.TEXT_NOT_STRING
            detail = f"'{s.text_field}' is {type(text).__name__}, not a string"
        elif len(text) > s.max_chars:
            reason = reasons.TEXT_TOO_LONG
            detail = f"{len(text)} characters > max_chars={s.max_chars}"
        else:
            reason, detail = reasons.EMPTY_TEXT, "text is empty or whitespace only"
        self._reject(batch, reason, path, line, detail, raw, rec_id)

    # -- one file ---------------------------------------------------------------------
    def read_file(self, path: str) -> Iterator[tuple[pa.Table, pa.Table, int]]:
        """Yield (documents, rejects, records_seen) batches for one input file; every record
        seen lands in exactly one of the two tables."""
        reader = self._read_parquet if io.file_format(path) == "parquet" else self._read_jsonl
        for batch, seen in reader(path):
            yield (*batch.tables(), seen)

    def _read_jsonl(self, path: str) -> Iterator[tuple[_Batch, int]]:
        stem, size, add = io.file_stem(path), self.s.batch_size, self._add_record
        batch, seen, line = _Batch(), 0, 0
        lines = enumerate(io.read_lines(path), start=1)
        while True:
            try:  # only reading is guarded: a damaged file, never a bug below, is a reject
                line, raw_line = next(lines)
            except StopIteration:
                break
            except io.DECOMPRESSION_ERRORS as exc:
                # Truncated or corrupt file: the records before the damage still count.
                seen += 1
                self._reject(
                    batch, reasons.UNREADABLE_FILE, path, line + 1,
                    f"{type(exc).__name__}: {exc}; records before line {line + 1} were read", None,
                )
                break
            if not raw_line or raw_line.isspace():
                continue  # blank lines are not records (JSON Lines allows a trailing one)
            seen += 1
            try:
                obj = orjson.loads(raw_line)  # validates UTF-8 too
            except orjson.JSONDecodeError as exc:
                obj, reason, detail = _diagnose(raw_line, exc)
                if reason:
                    self._reject(batch, reason, path, line, detail, raw_line)
                    obj = _MISSING
            if obj is not _MISSING:
                add(batch, obj, path, line, stem, raw_line)
            if seen == size or batch.chars >= BATCH_CHARS:
                yield batch, seen
                batch, seen = _Batch(), 0
        if seen:
            yield batch, seen

    def _read_parquet(self, path: str) -> Iterator[tuple[_Batch, int]]:
        stem, add = io.file_stem(path), self._add_record
        batch, seen, row = _Batch(), 0, 0
        try:
            pf = io.read_parquet_file(path)
            for rb in pf.iter_batches(batch_size=self.s.batch_size):
                for rec in rb.to_pylist():
                    row += 1
                    seen += 1
                    add(batch, rec, path, row, stem, lambda r=rec: orjson.dumps(r, default=str).decode())
                yield batch, seen
                batch, seen = _Batch(), 0
        except (*io.DECOMPRESSION_ERRORS, pa.ArrowException) as exc:
            seen += 1
            self._reject(
                batch, reasons.UNREADABLE_FILE, path, row + 1,
                f"{type(exc).__name__}: {exc}; rows before {row + 1} were read", None,
            )
        if seen:
            yield batch, seen
