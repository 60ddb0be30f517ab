"""Turning raw input records into documents or rejects: the per-record rules of ingest.

Pure Python, no Beam: `RecordReader.read_file(path)` yields Arrow batches of documents
and of rejects, so the rules are testable without a pipeline.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pyarrow as pa

from thresher.pipelines import io, reasons, schemas
from thresher.scorers.textnorm import for_storage

_MISSING = object()
_BOM = b"\xef\xbb\xbf"  # UTF-8 byte-order mark: allowed at the start of a file only
# A batch ends at batch_size records or this much text, whichever comes first, so a file
# of huge documents does not hold thousands of them in memory at once.
BATCH_CHARS = 32 << 20


_JSON_TYPES = {float: "number with a fraction", list: "list", dict: "object"}


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
    stdlib parser takes NaN and Infinity, which orjson refuses, and integers over 64 bits,
    which it cannot hold), else (None, reason, detail)."""
    if "depth limit" in str(exc):
        return None, reasons.NESTING_TOO_DEEP, f"nested deeper than orjson's 1024 levels: {exc}"
    try:
        decoded = raw_line.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, reasons.INVALID_UTF8, str(err)
    obj, reason, detail = _stdlib_parse(decoded)
    if reason:
        return None, reason, detail if reason != reasons.INVALID_JSON else str(exc)
    try:  # escaped lone surrogates ("\\ud800") anywhere: not text at all
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None, reasons.INVALID_UTF8, "the record holds unpaired surrogates"
    except RecursionError:
        return None, reasons.NESTING_TOO_DEEP, "nested too deep to write back"
    return obj, None, None


def _stdlib_parse(text: str | bytes):
    """(obj, None, None) or (None, reason, detail): the stdlib parser keeps integers of any
    size exact (up to Python's 4300-digit limit) and takes NaN / Infinity."""
    try:
        return json.loads(text), None, None
    except RecursionError:  # the stdlib recurses per level: it gives up near 1000 levels
        return None, reasons.NESTING_TOO_DEEP, "nested too deep for the JSON parser"
    except ValueError as err:  # invalid JSON, or an integer over 4300 digits
        return None, reasons.INVALID_JSON, str(err)


def _big_int(value: float) -> bool:
    """Could this float be an integer orjson could not hold (outside -2**63 .. 2**64), so
    parsed as a float? Then the record is parsed again with the stdlib, exactly."""
    return abs(value) >= 2**63


# How orjson writes a float of magnitude >= 1e18: where an integer over 64 bits may have
# gone (orjson parses those as floats). Checked on the metadata JSON, not on every number.
_BIG_FLOAT = re.compile(r"\de\+(?:1[89]|[2-9]\d|\d{3})")
_INT_RANGE = (-(2**63), 2**64)


def _exact_ints(value):
    """`value` with integers orjson cannot write (over 64 bits) as raw JSON digits."""
    t = type(value)
    if t is dict:
        return {k: _exact_ints(v) for k, v in value.items()}
    if t is list:
        return [_exact_ints(v) for v in value]
    if t is int and not _INT_RANGE[0] <= value < _INT_RANGE[1]:
        return orjson.Fragment(str(value))
    return value


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

    def _add_record(
        self, batch: _Batch, obj, path: str, line: int, stem: str, raw, exact: bool = False
    ) -> None:
        """One parsed record -> a document or a reject. Ids: a non-empty string as is, an
        integer as its decimal string (exact at any size), a boolean is rejected as
        `invalid_id` (True is not an id), and so is a float, list or object; null or ""
        means no id, so one is derived from the file and line. `exact`: `obj` came from the stdlib parser, whose
        integers are exact (orjson turns those over 64 bits into floats)."""
        # The hot path of ingest: plain lookups first, the reason for a reject only when
        # there is one, and no copy of the record unless it has metadata to keep.
        s = self.s
        if type(obj) is not dict:
            return self._reject(
                batch,
                reasons.NOT_AN_OBJECT,
                path,
                line,
                f"expected a JSON object, got {type(obj).__name__}",
                raw,
            )
        text = obj.get(s.text_field, _MISSING)
        raw_id = obj.get(s.id_field)
        rec_id = raw_id if type(raw_id) is str and raw_id else None
        if rec_id is None and raw_id is not None and type(raw_id) is not str:
            if type(raw_id) is int:
                rec_id = str(raw_id)
            elif type(raw_id) is bool:
                return self._reject(
                    batch,
                    reasons.INVALID_ID,
                    path,
                    line,
                    f"'{s.id_field}' is a boolean, not a string or integer",
                    raw,
                )
            elif type(raw_id) is float and not exact and _big_int(raw_id) and type(raw) is bytes:
                return self._add_exact(batch, path, line, stem, raw)
            else:  # a float, list or object is not an id: deriving one would hide that
                return self._reject(
                    batch,
                    reasons.INVALID_ID,
                    path,
                    line,
                    f"'{s.id_field}' is a {_JSON_TYPES.get(type(raw_id), type(raw_id).__name__)}, "
                    "not a string or integer",
                    raw,
                )
        if type(text) is not str or not text or len(text) > s.max_chars or text.isspace():
            return self._reject_text(batch, text, path, line, raw, rec_id)
        source = obj.get("source")
        if type(source) is not str or not source:
            source = s.source or stem
        meta = None
        if len(obj) > len(obj.keys() & {s.text_field, s.id_field, "source"}):
            meta = self._metadata(obj, exact)
            if type(meta) is tuple:  # it cannot be written as JSON
                reason, detail = meta
                return self._reject(batch, reason, path, line, detail, raw, rec_id)
            if not exact and type(raw) is bytes and _BIG_FLOAT.search(meta):
                return self._add_exact(batch, path, line, stem, raw)
        text = for_storage(text)
        d = batch.docs
        d["id"].append(rec_id if rec_id is not None else derived_id(path, line))
        d["source"].append(source)
        d["text"].append(text)
        d["n_chars"].append(len(text))
        batch.chars += len(text)
        d["file"].append(path)
        d["line"].append(line)
        d["metadata"].append(meta)

    def _metadata(self, obj: dict, exact: bool):
        """Every field but text, id and source, as JSON text (keys sorted), or (reason,
        detail) when orjson cannot write it (nested over 255 levels)."""
        s = self.s
        meta = {k: v for k, v in obj.items() if k not in (s.text_field, s.id_field, "source")}
        try:
            if exact:  # integers over 64 bits are kept digit for digit
                meta = _exact_ints(meta)
            return orjson.dumps(meta, default=str, option=orjson.OPT_SORT_KEYS).decode()
        except RecursionError:
            return reasons.NESTING_TOO_DEEP, "metadata nested too deep to store"
        except orjson.JSONEncodeError as err:
            if "ecursion" in str(err):
                return reasons.NESTING_TOO_DEEP, f"metadata nested over 255 levels: {err}"
            return reasons.INVALID_JSON, f"metadata cannot be stored as JSON: {err}"

    def _add_exact(self, batch: _Batch, path: str, line: int, stem: str, raw: bytes) -> None:
        """A record that may hold integers over 64 bits: parsed again, exactly."""
        obj, reason, detail = _stdlib_parse(raw)
        if reason:
            return self._reject(batch, reason, path, line, detail, raw)
        self._add_record(batch, obj, path, line, stem, raw, exact=True)

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
        seen lands in exactly one of the two tables, and every document's text is (after
        `for_storage`) the text of a record that was in the file."""
        reader = self._read_parquet if io.file_format(path) == "parquet" else self._read_jsonl
        for batch, seen in reader(path):
            yield (*batch.tables(), seen)

    def _read_jsonl(self, path: str) -> Iterator[tuple[_Batch, int]]:
        """Records of a JSONL file. Those decoded from a gzip member / zstd frame that fails
        its integrity check are `corrupt_file` rejects, never documents (see
        io.read_line_blocks); where the rest of a file cannot be decoded, one
        `unreadable_file` reject stands for it. A UTF-8 byte-order mark starting the file
        is dropped."""
        stem, size = io.file_stem(path), self.s.batch_size
        batch, seen, line = _Batch(), 0, 0
        blocks = io.read_line_blocks(path)
        while True:
            try:  # only reading is guarded: a damaged file, never a bug below, is a reject
                lines, damage = next(blocks)
            except StopIteration:
                break
            except io.DECOMPRESSION_ERRORS as exc:
                seen += 1
                self._reject(
                    batch,
                    reasons.UNREADABLE_FILE,
                    path,
                    line + 1,
                    f"{type(exc).__name__}: {exc}; the file could not be read past line {line}",
                    None,
                )
                break
            if line == 0 and lines[0].startswith(_BOM):
                lines[0] = lines[0][len(_BOM) :]
            for raw_line in lines:
                line += 1
                if not raw_line or raw_line.isspace():
                    continue  # blank lines are not records (JSON Lines allows a trailing one)
                seen += 1
                if damage is None:
                    self._add_line(batch, raw_line, path, line, stem)
                else:
                    self._reject(batch, reasons.CORRUPT_FILE, path, line, damage, raw_line)
                if seen == size or batch.chars >= BATCH_CHARS:
                    yield batch, seen
                    batch, seen = _Batch(), 0
        if seen:
            yield batch, seen

    def _add_line(self, batch: _Batch, raw_line: bytes, path: str, line: int, stem: str) -> None:
        try:
            obj = orjson.loads(raw_line)  # validates UTF-8 too
        except orjson.JSONDecodeError as exc:
            obj, reason, detail = _diagnose(raw_line, exc)
            if reason:
                return self._reject(batch, reason, path, line, detail, raw_line)
            return self._add_record(batch, obj, path, line, stem, raw_line, exact=True)
        self._add_record(batch, obj, path, line, stem, raw_line)

    def _read_parquet(self, path: str) -> Iterator[tuple[_Batch, int]]:
        stem, add = io.file_stem(path), self._add_record
        batch, seen, row = _Batch(), 0, 0
        try:
            pf = io.read_parquet_file(path)
            for rb in pf.iter_batches(batch_size=self.s.batch_size):
                for rec in rb.to_pylist():
                    row += 1
                    seen += 1
                    add(
                        batch,
                        rec,
                        path,
                        row,
                        stem,
                        lambda r=rec: orjson.dumps(r, default=str).decode(),
                    )
                yield batch, seen
                batch, seen = _Batch(), 0
        except (*io.DECOMPRESSION_ERRORS, pa.ArrowException) as exc:
            seen += 1
            self._reject(
                batch,
                reasons.UNREADABLE_FILE,
                path,
                row + 1,
                f"{type(exc).__name__}: {exc}; rows before {row + 1} were read",
                None,
            )
        if seen:
            yield batch, seen
