"""Turning raw input records into documents or rejects: the per-record rules of ingest.

Pure Python, no Beam: `RecordReader.read_file(path)` yields Arrow batches of documents
and of rejects, so the rules are testable without a pipeline.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pyarrow as pa

from pipelines import io, reasons, schemas
from scorers.textnorm import for_storage

_MISSING = object()


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

    def __len__(self):
        return len(self.docs["id"]) + len(self.rejects["reason"])

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
    """Why orjson refused a line: (obj, None, None) if the stdlib parser accepts it
    (escaped lone surrogates such as "\\ud800", which orjson refuses), else
    (None, reason, detail)."""
    try:
        decoded = raw_line.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, reasons.INVALID_UTF8, str(err)
    try:
        return json.loads(decoded), None, None
    except ValueError:
        return None, reasons.INVALID_JSON, str(exc)


def _has_surrogates(text) -> bool:
    if not isinstance(text, str):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class RecordReader:
    def __init__(self, settings: ReaderSettings):
        self.s = settings

    # -- one record -------------------------------------------------------------------
    def _reject(self, batch: _Batch, reason, path, line, detail, raw, rec_id=None):
        r = batch.rejects
        r["reason"].append(reason)
        r["file"].append(path)
        r["line"].append(line)
        r["id"].append(rec_id)
        r["detail"].append(detail)
        r["raw"].append(raw[: self.s.raw_chars] if raw is not None else None)

    def _add_record(self, batch: _Batch, obj, path: str, line: int, stem: str, raw) -> None:
        s = self.s
        if not isinstance(obj, dict):
            return self._reject(
                batch, reasons.NOT_AN_OBJECT, path, line,
                f"expected a JSON object, got {type(obj).__name__}", raw(),
            )
        obj = dict(obj)  # popped below; the caller's raw() may still need the original
        text = obj.pop(s.text_field, _MISSING)
        raw_id = obj.pop(s.id_field, None)
        rec_id = str(raw_id) if isinstance(raw_id, str | int) and raw_id != "" else None
        if text is _MISSING or text is None:
            return self._reject(
                batch, reasons.MISSING_TEXT, path, line,
                f"no '{s.text_field}' field", raw(), rec_id,
            )
        if not isinstance(text, str):
            return self._reject(
                batch, reasons.TEXT_NOT_STRING, path, line,
                f"'{s.text_field}' is {type(text).__name__}, not a string", raw(), rec_id,
            )
        if not text or text.isspace():
            return self._reject(
                batch, reasons.EMPTY_TEXT, path, line, "text is empty or whitespace only", raw(),
                rec_id,
            )
        if len(text) > s.max_chars:
            return self._reject(
                batch, reasons.TEXT_TOO_LONG, path, line,
                f"{len(text)} characters > max_chars={s.max_chars}", raw(), rec_id,
            )
        text = for_storage(text)
        source = obj.pop("source", None)
        if not isinstance(source, str) or not source:
            source = s.source or stem
        d = batch.docs
        d["id"].append(rec_id if rec_id is not None else derived_id(path, line))
        d["source"].append(source)
        d["text"].append(text)
        d["n_chars"].append(len(text))
        d["file"].append(path)
        d["line"].append(line)
        d["metadata"].append(
            orjson.dumps(obj, default=str, option=orjson.OPT_SORT_KEYS).decode() if obj else None
        )

    # -- one file ---------------------------------------------------------------------
    def read_file(self, path: str) -> Iterator[tuple[pa.Table, pa.Table, int]]:
        """Yield (documents, rejects, records_seen) batches for one input file."""
        reader = self._read_parquet if io.file_format(path) == "parquet" else self._read_jsonl
        # The file readers append to whatever batch is current; we swap in a new one
        # whenever the current one is full.
        current, seen = [_Batch()], 0
        for n in reader(path, lambda: current[0]):
            seen += n
            if len(current[0]) >= self.s.batch_size:
                yield (*current[0].tables(), seen)
                current[0], seen = _Batch(), 0
        if len(current[0]) or seen:
            yield (*current[0].tables(), seen)

    def _read_jsonl(self, path: str, current):
        stem = io.file_stem(path)
        line = 0
        try:
            with io.open_input(path) as stream:
                for line, raw_line in enumerate(stream, start=1):
                    if raw_line.isspace():
                        continue  # blank lines are not records (JSON Lines allows a trailing one)
                    yield 1
                    batch = current()
                    raw = lambda r=raw_line: r.decode("utf-8", "replace").rstrip("\n")
                    try:
                        obj = orjson.loads(raw_line)  # validates UTF-8 too
                    except orjson.JSONDecodeError as exc:
                        obj, reason, detail = _diagnose(raw_line, exc)
                        if reason:
                            self._reject(batch, reason, path, line, detail, raw())
                            continue
                        if _has_surrogates(obj.get(self.s.text_field) if isinstance(obj, dict) else None):
                            self._reject(batch, reasons.INVALID_UTF8, path, line,
                                         "text holds unpaired surrogates", raw())
                            continue
                    self._add_record(batch, obj, path, line, stem, raw)
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            # Truncated or corrupt file: the records before the damage still count.
            yield 1
            self._reject(
                current(), reasons.UNREADABLE_FILE, path, line + 1,
                f"{type(exc).__name__}: {exc}; records before line {line + 1} were read", None,
            )

    def _read_parquet(self, path: str, current):
        stem = io.file_stem(path)
        row = 0
        try:
            pf = io.read_parquet_file(path)
            for rb in pf.iter_batches(batch_size=self.s.batch_size):
                for rec in rb.to_pylist():
                    row += 1
                    yield 1
                    self._add_record(
                        current(), rec, path, row, stem,
                        lambda r=rec: orjson.dumps(r, default=str).decode(),
                    )
        except (OSError, EOFError, ValueError, pa.ArrowException) as exc:
            yield 1
            self._reject(
                current(), reasons.UNREADABLE_FILE, path, row + 1,
                f"{type(exc).__name__}: {exc}; rows before {row + 1} were read", None,
            )
