"""Fuzzing the input reader and the ingest stage with random and damaged files.

A case is a list of JSONL lines (good records, malformed lines, deep nesting, huge
integers, odd Unicode, BOMs) put in a container (plain, gzip members, zstd frames with or
without checksums, Parquet) whose bytes may then be damaged (flipped bytes, a cut, a zeroed
stretch, a spliced copy). Properties, for every case:
  - nothing raises: every bad record or file is a reject;
  - accounting: records seen = documents + rejects;
  - provenance: every document's (id, text) is, after `for_storage`, the (id, text) of a
    record that was in the undamaged input. Only where the container carries integrity
    data: plain JSONL (the damaged bytes are the input), gzip, zstd frames with a checksum;
    not damaged Parquet or checksum-less zstd frames, which carry none.

Cases are built through a `Chooser`, so Hypothesis (here) and a seeded random generator
(bench/fuzz_inputs.py, for long runs) share them.
"""

from __future__ import annotations

import gzip
import json
import random
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thresher.pipelines import ingest
from thresher.pipelines.records import ReaderSettings, RecordReader
from thresher.pipelines.stage import StageContext
from thresher.scorers.textnorm import for_storage

CONTAINERS = ("plain", "gzip", "zstd", "zstd-nocheck", "parquet")
DAMAGES = ("none", "flip", "cut", "zero", "splice")
# Odd characters for texts: combining marks, CJK, emoji, RTL, separators, CR, NUL, BOM,
# a noncharacter; lone surrogates go in as JSON escapes (invalid_utf8 rejects).
_CHARS = "aZ \u0301e\u0308\u4e2d\u6587\U0001f600\u05d0\u2028\u2029\r\n\t\x00\ufeff\uffff\u00e9"
_BOM = b"\xef\xbb\xbf"
MAX_CHARS = 40  # small, so text_too_long happens


class RandomChooser:
    """Choices from a seeded `random.Random` (the bench's long runs)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options):
        return options[self.rng.randrange(len(options))]

    def raw(self, n: int) -> bytes:
        return self.rng.randbytes(n)


class HypothesisChooser(RandomChooser):
    """Choices drawn by Hypothesis, so failures shrink."""

    def __init__(self, data):
        self.data = data

    def int(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def choice(self, options):
        return self.data.draw(st.sampled_from(options))

    def raw(self, n: int) -> bytes:
        return self.data.draw(st.binary(min_size=n, max_size=n))


# -- building a case ------------------------------------------------------------------
def _text(c) -> str:
    return "".join(c.choice(_CHARS) for _ in range(c.int(0, 12))) + c.choice(["", "", "", "x" * 50])


def _value(c, depth: int = 0):
    kind = c.int(0, 7 if depth < 3 else 4)
    if kind == 0:
        return c.int(-(2**70), 2**70)  # often over 64 bits
    if kind == 1:
        return c.choice([0.5, -1e300, 1e19, 2.0**64, float("nan"), True, None])
    if kind in (2, 3, 4):
        return _text(c)
    if kind == 5:
        return [_value(c, depth + 1) for _ in range(c.int(0, 3))]
    return {f"k{i}": _value(c, depth + 1) for i in range(c.int(0, 3))}


def _record(c) -> dict:
    rec = {}
    if c.int(0, 5):
        rec["text"] = _text(c) if c.int(0, 6) else _value(c)
    id_kind = c.int(0, 5)
    if id_kind == 1:
        rec["id"] = f"i{c.int(0, 30)}"  # repeats: duplicate_id
    elif id_kind == 2:
        rec["id"] = c.choice([2**64, 2**100, -(2**63) - 1, 7, 2**63])
    elif id_kind == 3:
        rec["id"] = c.choice([True, False, None, "", 1.5, [1], {"a": 1}])
    for i in range(c.int(0, 2)):
        rec[f"m{i}"] = _value(c)
    if c.int(0, 9) == 0:
        rec["source"] = c.choice(["web", 3, ""])
    return rec


def _line(c) -> bytes:
    kind = c.int(0, 12)
    if kind <= 6:
        return json.dumps(_record(c), ensure_ascii=bool(c.int(0, 1))).encode()
    if kind == 7:
        depth = c.choice([200, 300, 1000, 1100, 3000])
        return b'{"text": "deep", "m": ' + b"[" * depth + b"]" * depth + b"}"
    if kind == 8:
        return c.choice(
            [
                b'{"text": "lone \\ud800"}',
                b'{"text": "caf\xe9"}',
                b"[1, 2]",
                b'{"text": "x", "n": NaN}',
                b"",
                b"   ",
                b'{"text": "unterminated',
                _BOM + b'{"text": "a BOM mid-file"}',
                b'{"id": 1' + b"0" * 30 + b', "text": "t"}',
                b'{"text": "x", "n": 1' + b"0" * 5000 + b"}",
            ]
        )
    if kind == 9:
        return c.raw(c.int(0, 20)).replace(b"\n", b" ")
    good = json.dumps(_record(c)).encode()
    return good[: c.int(0, len(good))]  # a torn record


def _split(c, data: bytes, parts: int) -> list[bytes]:
    cuts = sorted(c.int(0, len(data)) for _ in range(parts - 1))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def _pack(c, container: str, content: bytes, records: list) -> bytes:
    if container == "plain":
        return content
    pieces = _split(c, content, c.int(1, 3))  # members split anywhere, even mid-line
    if container == "gzip":
        return b"".join(gzip.compress(p, compresslevel=c.int(1, 9), mtime=0) for p in pieces)
    if container == "parquet":
        return _parquet(records)
    compressor = zstandard.ZstdCompressor(write_checksum=container == "zstd")
    return b"".join(compressor.compress(p) for p in pieces)


def _parquet(records: list) -> bytes:
    rows = [r for r in records if isinstance(r, dict)]
    table = pa.table(
        {
            "id": pa.array([_utf8(r.get("id")) for r in rows], pa.string()),
            "text": pa.array([_utf8(r.get("text")) for r in rows], pa.string()),
            "n": pa.array([len(r) for r in rows], pa.int64()),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _utf8(value) -> str | None:
    """A string Parquet can hold (no lone surrogates), else None."""
    if isinstance(value, str) and value.encode("utf-8", "replace").decode() == value:
        return value
    return None


def _damage(c, kind: str, data: bytearray) -> bytes:
    if not data or kind == "none":
        return bytes(data)
    at = c.int(0, len(data) - 1)
    if kind == "flip":
        for _ in range(c.int(1, 3)):
            data[c.int(0, len(data) - 1)] ^= 1 << c.int(0, 7)
    elif kind == "cut":
        del data[at:]
    elif kind == "zero":
        end = at + c.int(1, 64)
        data[at:end] = bytes(len(data[at:end]))
    else:  # splice: a stretch of the file repeated somewhere else
        data[at:at] = data[c.int(0, at) : at][:200]
    return bytes(data)


def make_case(c) -> dict:
    """{"kind", "suffix", "data", "lines"}: the file's bytes and the undamaged JSONL lines."""
    container, damage = c.choice(CONTAINERS), c.choice(DAMAGES)
    lines = [_line(c) for _ in range(c.int(0, 12))]
    if lines and c.int(0, 4) == 0:
        lines[0] = _BOM + lines[0]
    content = b"\n".join(lines) + (b"\n" if c.int(0, 3) else b"")
    records = [_parse(line) for line in lines]
    data = _damage(c, damage, bytearray(_pack(c, container, content, records)))
    if container == "plain":  # no integrity data: the damaged bytes are the input
        content = data
    if container == "parquet":  # what the Parquet file holds, as JSONL for the oracle
        rows = [r for r in records if isinstance(r, dict)]
        content = b"\n".join(
            json.dumps({"id": _utf8(r.get("id")), "text": _utf8(r.get("text"))}).encode()
            for r in rows
        )
    suffix = {"plain": ".jsonl", "gzip": ".jsonl.gz", "parquet": ".parquet"}.get(
        container, ".jsonl.zst"
    )
    checked = damage == "none" or container in ("plain", "gzip", "zstd")
    return {
        "kind": f"{container}/{damage}",
        "suffix": suffix,
        "data": data,
        "content": content,
        "checked": checked,
    }


def _parse(line: bytes):
    try:
        return json.loads(line.removeprefix(_BOM))
    except (ValueError, RecursionError):
        return None


# -- the properties ---------------------------------------------------------------------
def true_records(content: bytes) -> set[tuple[str | None, str]]:
    """(id, stored text) of every record in the undamaged content: the oracle, the stdlib
    parser on each line. A document's id is its record's, or derived (None here)."""
    found = set()
    for line in content.removeprefix(_BOM).split(b"\n"):
        rec = _parse(line)
        if isinstance(rec, dict) and isinstance(rec.get("text"), str):
            rid = rec.get("id")
            rid = str(rid) if type(rid) in (str, int) and rid != "" else None
            found.add((rid, for_storage(rec["text"])))
            found.add((None, for_storage(rec["text"])))
    return found


def check_documents(docs: list[dict], case: dict, derived: set[str] = frozenset()) -> None:
    if not case["checked"]:
        return
    truth = true_records(case["content"])
    for d in docs:
        rid = None if d["id"] in derived else d["id"]
        assert (rid, d["text"]) in truth, (case["kind"], d)


def read_case(case: dict, directory: Path, batch_size: int = 3) -> tuple[list, list]:
    """The reader on one case: (documents, rejects); asserts accounting and provenance."""
    path = directory / f"case{case['suffix']}"
    path.write_bytes(case["data"])
    reader = RecordReader(ReaderSettings(max_chars=MAX_CHARS, batch_size=batch_size))
    docs, rejects, seen = [], [], 0
    for d, r, n in reader.read_file(str(path)):
        docs += d.to_pylist()
        rejects += r.to_pylist()
        seen += n
    assert seen == len(docs) + len(rejects), case["kind"]
    assert all(r["reason"] and r["file"] == str(path) for r in rejects)
    derived = {d["id"] for d in docs if _is_derived(d)}
    check_documents(docs, case, derived)
    return docs, rejects


def _is_derived(doc: dict) -> bool:
    from thresher.pipelines.records import derived_id

    return doc["id"] == derived_id(doc["file"], doc["line"])


def _fuzz(examples: int) -> settings:
    # derandomized: the same cases every run (a CI failure reproduces); no database either
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@_fuzz(200)
@given(st.data())
def test_reader_survives_random_and_damaged_files(data):
    case = make_case(HypothesisChooser(data))
    with tempfile.TemporaryDirectory() as d:
        read_case(case, Path(d), batch_size=data.draw(st.integers(1, 5)))


@_fuzz(150)
@given(st.data())
def test_damaged_gzip_never_yields_a_record_that_was_not_there(data):
    """The integrity property on its own: gzip only, always damaged, more lines."""
    c = HypothesisChooser(data)
    lines = [
        json.dumps({"id": f"r{i}", "text": _text(c) + f" {i}"}).encode()
        for i in range(c.int(1, 40))
    ]
    content = b"\n".join(lines) + b"\n"
    packed = _pack(c, "gzip", content, [])
    case = {
        "kind": "gzip",
        "suffix": ".jsonl.gz",
        "content": content,
        "checked": True,
        "data": _damage(c, c.choice(DAMAGES[1:]), bytearray(packed)),
    }
    with tempfile.TemporaryDirectory() as d:
        read_case(case, Path(d))


@_fuzz(30)
@given(st.data())
def test_ingest_stage_keeps_its_accounting_on_random_files(data):
    c = HypothesisChooser(data)
    cases = [make_case(c) for _ in range(c.int(1, 3))]
    with tempfile.TemporaryDirectory() as d:
        ingest_cases(cases, Path(d))


def ingest_cases(cases: list[dict], root: Path) -> dict:
    """The ingest stage on the cases' files: asserts accounting and provenance."""
    paths = []
    for i, case in enumerate(cases):
        paths.append(root / "in" / f"f{i}{case['suffix']}")
        paths[-1].parent.mkdir(exist_ok=True)
        paths[-1].write_bytes(case["data"])
    ctx = StageContext(run_dir=root / "run", partitions=2).with_inputs([str(p) for p in paths])
    stats = ingest.run(ctx, ingest.IngestConfig(max_chars=MAX_CHARS))
    assert stats["in"] == stats["kept"] + stats["rejected"]
    parts = sorted((root / "run" / ingest.DOCS_OUT).glob("part-*.parquet"))
    docs = pa.concat_tables([pq.read_table(p) for p in parts]).to_pylist() if parts else []
    assert len(docs) == stats["kept"]
    for path, case in zip(paths, cases, strict=True):
        mine = [d for d in docs if d["file"] == str(path)]
        check_documents(mine, case, {d["id"] for d in mine if _is_derived(d)})
    return stats
