"""Ingest: every malformed record lands in rejects with its reason; nothing else is lost."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from thresher.pipelines import ingest, io
from thresher.pipelines.stage import StageContext
from thresher.scorers.errors import InputError


def read_dir(path: Path) -> pa.Table:
    parts = list(io.iter_parts(path))
    return io.read_table(parts) if parts else pa.table({})


def run_ingest(tmp_path: Path, inputs, **cfg) -> tuple[dict, pa.Table, pa.Table]:
    ctx = StageContext(run_dir=tmp_path / "run", partitions=3)
    stats = ingest.run(ctx.with_inputs([str(i) for i in inputs]), ingest.IngestConfig(**cfg))
    return (
        stats,
        read_dir(ctx.run_dir / ingest.DOCS_OUT),
        read_dir(ctx.run_dir / ingest.REJECTS_OUT),
    )


def test_every_reject_reason_is_recorded_and_counts_add_up(tmp_path, jsonl):
    good = [{"id": f"g{i}", "text": f"good document number {i}"} for i in range(5)]
    lines = [
        json.dumps(good[0]).encode(),
        b'{"id": "x1", "text": "unterminated',  # invalid_json
        b'{"id": "x2", "text": "caf\xe9"}',  # invalid_utf8 (latin-1 byte)
        b'{"id": "x3", "body": "no text"}',  # missing_text
        b'{"id": "x4", "text": null}',  # missing_text (null)
        b'{"id": "x5", "text": ["a", "list"]}',  # text_not_string
        b'{"id": "x6", "text": " \\n\\t "}',  # empty_text
        json.dumps({"id": "x7", "text": "y" * 301}).encode(),  # text_too_long
        json.dumps({"id": "g0", "text": "reuses g0"}).encode(),  # duplicate_id
        b"[1, 2, 3]",  # not_an_object
        b'{"id": "x8", "text": "lone \\ud800 surrogate"}',  # invalid_utf8 (escape)
        b'{"id": true, "text": "a boolean id"}',  # invalid_id
        b'{"id": 1.5, "text": "a fractional id"}',  # invalid_id
        b'{"id": ["a"], "text": "a list id"}',  # invalid_id
        b'{"text": "deep", "m": ' + b"[" * 2000 + b"]" * 2000 + b"}",  # nesting_too_deep
        *[json.dumps(g).encode() for g in good[1:]],
    ]
    plain = jsonl(tmp_path / "in" / "mixed.jsonl", lines)
    recs = [
        json.dumps({"id": f"t{i}", "text": f"truncated file record {i} " + "pad " * 50}).encode()
        + b"\n"
        for i in range(200)
    ]
    # two gzip members, cut inside the second: the first verified, the second cannot be
    second = gzip.compress(b"".join(recs[100:]))
    truncated = tmp_path / "in" / "cut.jsonl.gz"
    truncated.write_bytes(gzip.compress(b"".join(recs[:100])) + second[: len(second) // 2])

    stats, docs, rejects = run_ingest(tmp_path, [plain, truncated], max_chars=300)

    by_reason = {}
    for r in rejects.to_pylist():
        by_reason.setdefault(r["reason"], []).append(r)
    corrupt = by_reason.pop("corrupt_file")
    assert {k: len(v) for k, v in by_reason.items()} == {
        "invalid_json": 1,
        "invalid_utf8": 2,
        "missing_text": 2,
        "text_not_string": 1,
        "empty_text": 1,
        "text_too_long": 1,
        "duplicate_id": 1,
        "not_an_object": 1,
        "unreadable_file": 1,
        "invalid_id": 3,
        "nesting_too_deep": 1,
    }
    assert by_reason["invalid_json"][0]["line"] == 2
    assert by_reason["invalid_json"][0]["file"].endswith("mixed.jsonl")
    dup = by_reason["duplicate_id"][0]
    assert dup["line"] == 9 and "mixed.jsonl:1" in dup["detail"]  # the first g0 is kept
    cut = by_reason["unreadable_file"][0]
    assert cut["file"].endswith("cut.jsonl.gz") and "truncated" in cut["detail"]
    # the first member is whole and verified: all its records count; nothing read from the
    # cut member can be verified, so its lines (the torn last one too) are corrupt_file
    truncated_docs = [d for d in docs.to_pylist() if d["file"].endswith("cut.jsonl.gz")]
    assert [d["id"] for d in truncated_docs] == [f"t{i}" for i in range(100)]
    assert 20 < len(corrupt) < 100 and all(r["file"].endswith("cut.jsonl.gz") for r in corrupt)
    assert [r["line"] for r in corrupt] == list(range(101, 101 + len(corrupt)))
    assert corrupt[0]["raw"].startswith('{"id": "t100"') and "truncated" in corrupt[0]["detail"]
    assert {d["id"] for d in docs.to_pylist() if d["file"].endswith("mixed.jsonl")} == {
        f"g{i}" for i in range(5)
    }
    # accounting: every non-blank line is a document or a reject
    assert stats["in"] == stats["kept"] + stats["rejected"]
    assert stats["kept"] == docs.num_rows and stats["rejected"] == rejects.num_rows
    assert stats["in"] == len(lines) + 100 + len(corrupt) + 1
    assert stats["rejected_by_reason"]["duplicate_id"] == 1


def test_fields_are_mapped_and_text_normalised(tmp_path, jsonl):
    recs = [
        {"id": 7, "text": "Cafe\u0301\r\nline two\rthree", "source": "web", "lang": "fr", "n": 3},
        {"text": "no id, no source"},
    ]
    path = jsonl(tmp_path / "crawl-2024.jsonl", recs)
    _, docs, _ = run_ingest(tmp_path, [path])
    rows = {d["line"]: d for d in docs.to_pylist()}
    first, second = rows[1], rows[2]
    assert first["id"] == "7" and first["source"] == "web"
    assert first["text"] == "Café\nline two\nthree"  # NFC + line endings, nothing else
    assert first["n_chars"] == len(first["text"])
    assert json.loads(first["metadata"]) == {"lang": "fr", "n": 3}
    assert second["source"] == "crawl-2024"  # the file stem
    # derived ids are stable: a second ingest of the same file gives the same id
    _, again, _ = run_ingest(tmp_path / "again", [path])
    assert second["id"] in again.column("id").to_pylist()


def test_reads_gzip_zstd_and_parquet_with_source_from_config(tmp_path):
    recs = [{"id": f"z{i}", "text": f"zstd text {i}"} for i in range(3)]
    zst = tmp_path / "a.jsonl.zst"
    zst.write_bytes(
        zstandard.ZstdCompressor().compress("".join(json.dumps(r) + "\n" for r in recs).encode())
    )
    gz = tmp_path / "b.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"id": "g", "text": "gzip text"}\n'))
    pq_path = tmp_path / "c.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["p1", "p2", "p3"],
                "text": ["parquet one", None, "three"],
                "score": [0.5, 0.1, 0.9],
            }
        ),
        pq_path,
    )
    stats, docs, rejects = run_ingest(tmp_path, [tmp_path / "*"], source="mydata")
    assert sorted(docs.column("id").to_pylist()) == ["g", "p1", "p3", "z0", "z1", "z2"]
    assert set(docs.column("source").to_pylist()) == {"mydata"}
    assert rejects.to_pylist()[0]["reason"] == "missing_text"
    assert rejects.to_pylist()[0]["line"] == 2
    assert stats["in"] == 7


def _records(n: int, prefix: str = "c") -> list[dict]:
    return [
        {"id": f"{prefix}{i:04d}", "text": f"record {i} " + "word " * (i % 60)} for i in range(n)
    ]


def _jsonl(recs: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in recs)


def _pack(suffix: str, data: bytes) -> bytes:
    """One gzip member (mtime 0: the same bytes every run) or one zstd frame with a checksum."""
    if suffix == ".gz":
        return gzip.compress(data, mtime=0)
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


def _assert_true_documents(docs: pa.Table, recs: list[dict]) -> None:
    """Every kept document is a record that was in the input, text and all."""
    texts = {r["id"]: r["text"] for r in recs}
    for d in docs.to_pylist():
        assert texts.get(d["id"]) == d["text"], d


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_flipped_byte_mid_gzip_keeps_none_of_the_members_records(tmp_path):
    # Inflate emits garbage for a while before the CRC in the trailer shows the damage:
    # none of what the member decoded to may become a document (it used to: wrong ids and
    # texts kept as documents, plus one unreadable_file reject).
    recs = [
        {"id": f"r{i:05d}", "text": f"record number {i} " + "lorem ipsum " * (i % 7)}
        for i in range(2000)
    ]
    packed = bytearray(gzip.compress(_jsonl(recs), mtime=0))
    packed[int(len(packed) * 0.3)] ^= 0x55  # inside the deflate data, not the header
    path = _write(tmp_path / "in" / "flipped.jsonl.gz", bytes(packed))
    stats, docs, rejects = run_ingest(tmp_path, [path], raw_chars=50)
    assert docs.num_rows == 0
    rows = rejects.to_pylist()
    assert {r["reason"] for r in rows} <= {"corrupt_file", "unreadable_file"}
    corrupt = [r for r in rows if r["reason"] == "corrupt_file"]
    assert len(corrupt) > 1000 and "gzip member 1" in corrupt[0]["detail"]
    assert all(
        r["file"] == str(path) and r["line"] >= 1 and 0 < len(r["raw"]) <= 50 for r in corrupt
    )
    assert stats["in"] == stats["kept"] + stats["rejected"] == len(rows)


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_damaged_member_is_rejected_and_the_members_before_it_kept(tmp_path, suffix, damage):
    recs = _records(3000)
    members = [_pack(suffix, _jsonl(recs[i : i + 1000])) for i in (0, 1000, 2000)]
    second = bytearray(members[1])
    middle = len(second) // 2
    if damage == "corrupt":
        second[middle : middle + 64] = bytes(64)  # a damaged stretch inside the data
        packed = members[0] + bytes(second) + members[2]
    else:
        packed = members[0] + bytes(second[:middle])  # a file cut short
    path = _write(tmp_path / "in" / f"bad.jsonl{suffix}", packed)
    stats, docs, rejects = run_ingest(tmp_path, [path])
    _assert_true_documents(docs, recs)
    ids = docs.column("id").to_pylist()
    assert ids[:1000] == [r["id"] for r in recs[:1000]]  # the verified member, in order
    assert not set(ids) & {r["id"] for r in recs[1000:2000]}  # nothing of the damaged one
    reasons_seen = set(rejects.column("reason").to_pylist())
    assert reasons_seen <= {"corrupt_file", "unreadable_file"} and reasons_seen
    if damage == "truncated":  # the missing rest is one reject; what the cut member decoded
        assert "unreadable_file" in reasons_seen  # (zstd: only whole blocks) is corrupt_file
        assert "corrupt_file" in reasons_seen or suffix == ".zst"
    assert stats["in"] == stats["kept"] + stats["rejected"]


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_a_member_failing_only_its_checksum_is_rejected_whole(tmp_path, suffix):
    recs = _records(300)
    members = [_pack(suffix, _jsonl(recs[i : i + 100])) for i in (0, 100, 200)]
    second = bytearray(members[1])
    second[-6] ^= 1  # in the gzip trailer's CRC / the zstd frame's content checksum
    path = _write(tmp_path / "in" / f"crc.jsonl{suffix}", members[0] + bytes(second) + members[2])
    stats, docs, rejects = run_ingest(tmp_path, [path])
    _assert_true_documents(docs, recs)
    corrupt = [r for r in rejects.to_pylist() if r["reason"] == "corrupt_file"]
    ids = docs.column("id").to_pylist()
    if suffix == ".gz":
        # every record of the second member decoded right, yet nothing vouches for it; the
        # member ended where deflate says, so the next one is read and kept, but for its
        # first line: the '\n' before it is unverified, so where that line starts is too
        assert [r["line"] for r in corrupt] == list(range(101, 202))
        assert [json.loads(r["raw"])["id"] for r in corrupt] == [r["id"] for r in recs[100:201]]
        assert ids == [r["id"] for r in recs[:100] + recs[201:]]
        assert rejects.num_rows == 101
    else:
        # libzstd raises at a bad checksum, dropping the output of that call (here the whole
        # frame), and says not where the frame ended: the rest is one unreadable_file
        assert ids == [r["id"] for r in recs[:100]]
        assert all(r["line"] > 100 for r in corrupt)
        assert rejects.column("reason").to_pylist()[-1] == "unreadable_file"
    assert stats["in"] == stats["kept"] + stats["rejected"]


def _read(path: Path, **settings) -> tuple[list[dict], list[dict]]:
    """Documents and rejects of one file, straight from the reader (no pipeline)."""
    from thresher.pipelines.records import ReaderSettings, RecordReader

    docs, rejects = [], []
    for d, r, _ in RecordReader(ReaderSettings(**settings)).read_file(str(path)):
        docs += d.to_pylist()
        rejects += r.to_pylist()
    return docs, rejects


@pytest.mark.parametrize(
    "line",
    [
        b'{"text": "t", "m": ' + b"[" * 2000 + b"]" * 2000 + b"}",  # over orjson's 1024 levels
        b'{"text": "t", "m": ' + b"[" * 300 + b"]" * 300 + b"}",  # orjson writes at most 255
        b'{"text": "t", "x": NaN, "m": ' + b"[" * 1200 + b"]" * 1200 + b"}",  # the stdlib parser
        b'{"text": "t", "x": NaN, "m": ' + b'{"a":' * 900 + b"1" + b"}" * 900 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_deep_nesting_is_a_reject_not_a_crash(tmp_path, jsonl, line):
    path = jsonl(tmp_path / "deep.jsonl", [line, {"id": "ok", "text": "fine"}])
    docs, rejects = _read(path)
    assert [d["id"] for d in docs] == ["ok"]
    assert [(r["reason"], r["line"]) for r in rejects] == [("nesting_too_deep", 1)]


@pytest.mark.parametrize("gz", [False, True])
def test_a_byte_order_mark_starting_a_file_is_dropped(tmp_path, jsonl, gz):
    path = jsonl(
        tmp_path / ("bom.jsonl.gz" if gz else "bom.jsonl"),
        [
            b'\xef\xbb\xbf{"id": "a", "text": "first"}',
            b'\xef\xbb\xbf{"id": "b", "text": "a BOM inside a file is an error"}',
        ],
        gz=gz,
    )
    docs, rejects = _read(path)
    assert [(d["id"], d["text"]) for d in docs] == [("a", "first")]
    assert [(r["reason"], r["line"]) for r in rejects] == [("invalid_json", 2)]


def test_integers_over_64_bits_stay_exact_and_boolean_ids_are_rejected(tmp_path, jsonl):
    big = 123456789012345678901234567890
    path = jsonl(
        tmp_path / "ints.jsonl",
        [
            b'{"id": %d, "text": "big id", "n": %d, "m": [-9223372036854775809, 1.5e300]}'
            % (big, -big),
            b'{"id": 18446744073709551615, "text": "the largest 64-bit id", "x": 1e19}',
            b'{"id": -9223372036854775809, "text": "below 64 bits", "x": NaN, "n": %d}' % big,
            b'{"id": true, "text": "a boolean id"}',
            b'{"id": false, "text": "another"}',
        ],
    )
    docs, rejects = _read(path)
    rows = {d["line"]: d for d in docs}
    assert rows[1]["id"] == str(big)
    assert json.loads(rows[1]["metadata"]) == {"n": -big, "m": [-9223372036854775809, 1.5e300]}
    assert f'"n":{-big}' in rows[1]["metadata"]  # the digits themselves, not a float
    assert rows[2]["id"] == "18446744073709551615"
    assert json.loads(rows[2]["metadata"]) == {"x": 1e19}  # a float stays a float
    assert rows[3]["id"] == "-9223372036854775809"
    assert json.loads(rows[3]["metadata"]) == {"x": None, "n": big}  # NaN is written as null
    assert [(r["reason"], r["line"]) for r in rejects] == [("invalid_id", 4), ("invalid_id", 5)]


def test_records_the_fast_parser_refuses_are_judged_whole(tmp_path, jsonl):
    path = jsonl(
        tmp_path / "in" / "odd.jsonl",
        [
            b'{"id": "s1", "text": "fine text", "note": "lone \\udc80 in metadata"}',  # invalid_utf8
            # NaN sends it to the stdlib parser, which keeps the integer over 64 bits exact,
            # and so does the metadata written back
            b'{"id": "b1", "text": "fine text", "x": NaN, "n": 123456789012345678901234567890}',
            b'{"id": "n1", "text": "fine text", "x": NaN}',  # NaN: the stdlib accepts it
            b'{"id": "m1", "text": "fine text", "source": "web", "lang": "en"}',
        ],
    )
    stats, docs, rejects = run_ingest(tmp_path, [path], id_field="source")
    assert dict(
        zip(rejects.column("line").to_pylist(), rejects.column("reason").to_pylist(), strict=True)
    ) == {1: "invalid_utf8"}
    meta = dict(
        zip(docs.column("line").to_pylist(), docs.column("metadata").to_pylist(), strict=True)
    )
    assert json.loads(meta[2]) == {"id": "b1", "x": None, "n": 123456789012345678901234567890}
    # the id field is "source" here: "id" and "lang" are metadata, none of it lost
    assert json.loads(meta[4]) == {"id": "m1", "lang": "en"}
    assert json.loads(meta[3]) == {"id": "n1", "x": None}
    assert stats["in"] == 4 == stats["kept"] + stats["rejected"]


def test_a_part_made_only_of_repeated_ids_disappears(tmp_path, jsonl):
    first = jsonl(
        tmp_path / "in" / "a.jsonl", [{"id": f"r{i}", "text": f"first {i}"} for i in range(50)]
    )
    again = jsonl(
        tmp_path / "in" / "b.jsonl",
        [{"id": f"r{i}", "text": f"again {i}"} for i in range(50)]
        + [{"id": "r7", "text": "and again"}],
    )  # the same id twice in one file too
    stats, docs, rejects = run_ingest(tmp_path, [again, first], part_docs=20)
    assert sorted(docs.column("text").to_pylist()) == sorted(f"first {i}" for i in range(50))
    assert rejects.num_rows == 51 and set(rejects.column("reason").to_pylist()) == {"duplicate_id"}
    assert all(
        d.startswith("id already used at ") and d.endswith("a.jsonl:" + str(n + 1))
        for d, n in zip(
            rejects.sort_by("line").column("detail").to_pylist()[:50], range(50), strict=True
        )
    )
    parts = sorted(p.name for p in (tmp_path / "run" / ingest.DOCS_OUT).glob("*.parquet"))
    assert parts == [
        "part-00000-00000.parquet",
        "part-00000-00001.parquet",
        "part-00000-00002.parquet",
    ]
    assert stats["in"] == 101 == stats["kept"] + stats["rejected"]


def test_parts_end_at_part_docs_or_part_bytes(tmp_path, jsonl, monkeypatch):
    monkeypatch.setattr(ingest, "PART_BYTES", 1000)
    recs = [{"id": f"p{i:03d}", "text": "x" * 300} for i in range(20)] + [
        {"id": "big", "text": "y" * 5000}
    ]
    stats, docs, _ = run_ingest(tmp_path, [jsonl(tmp_path / "in" / "a.jsonl", recs)], part_docs=3)
    sizes = [
        pq.ParquetFile(p).metadata.num_rows
        for p in sorted((tmp_path / "run" / ingest.DOCS_OUT).glob("*.parquet"))
    ]
    assert sizes == [3, 3, 3, 3, 3, 3, 2, 1]  # 3 docs (900 B) fit in 1000 B; the 5 KB one alone
    assert stats["kept"] == docs.num_rows == 21
    monkeypatch.setattr(ingest, "PART_BYTES", 700)
    stats, docs, _ = run_ingest(
        tmp_path / "b", [jsonl(tmp_path / "in" / "a.jsonl", recs)], part_docs=3
    )
    sizes = [
        pq.ParquetFile(p).metadata.num_rows
        for p in sorted((tmp_path / "b" / "run" / ingest.DOCS_OUT).glob("*.parquet"))
    ]
    assert sizes == [2] * 10 + [1]  # a third 300 B document would pass 700 B
    assert docs.num_rows == 21


def test_small_files_are_read_together_large_ones_alone(tmp_path, jsonl, monkeypatch):
    monkeypatch.setattr(ingest, "UNIT_BYTES", 2000)
    small = [
        jsonl(
            tmp_path / "in" / f"s{i}.jsonl", [{"id": f"s{i}-{j}", "text": "tiny"} for j in range(3)]
        )
        for i in range(4)
    ]
    large = jsonl(
        tmp_path / "in" / "t-large.jsonl", [{"id": f"l{j}", "text": "x" * 100} for j in range(30)]
    )
    stats, _, _ = run_ingest(tmp_path, [large, *small])
    parts = {
        p.name: io.read_table([p]).column("id").to_pylist()
        for p in sorted((tmp_path / "run" / ingest.DOCS_OUT).glob("*.parquet"))
    }
    # s0..s3 (about 120 bytes each) share one unit, in path order; the 3.5 KB file, over
    # the 2000-byte unit size, is a unit of its own
    assert parts == {
        "part-00000-00000.parquet": [f"s{i}-{j}" for i in range(4) for j in range(3)],
        "part-00001-00000.parquet": [f"l{j}" for j in range(30)],
    }
    assert stats["in"] == stats["kept"] == 42


def test_a_batch_ends_at_batch_size_or_batch_chars(tmp_path, jsonl, monkeypatch):
    from thresher.pipelines import records

    monkeypatch.setattr(records, "BATCH_CHARS", 100)
    path = jsonl(
        tmp_path / "in" / "a.jsonl", [{"id": f"b{i}", "text": "y" * 30} for i in range(10)]
    )
    sizes = [
        docs.num_rows
        for docs, _, _ in records.RecordReader(records.ReaderSettings(batch_size=1000)).read_file(
            str(path)
        )
    ]
    assert sizes == [4, 4, 2]  # 4 x 30 characters reach 100
    sizes = [
        docs.num_rows
        for docs, _, _ in records.RecordReader(records.ReaderSettings(batch_size=3)).read_file(
            str(path)
        )
    ]
    assert sizes == [3, 3, 3, 1]


def test_missing_input_is_a_user_error(tmp_path):
    with pytest.raises(InputError, match="no input files match"):
        io.expand_inputs([str(tmp_path / "nope" / "*.jsonl")])


def test_output_is_independent_of_input_order(tmp_path, jsonl):
    recs = [{"id": f"d{i:03d}", "text": f"text {i % 17}"} for i in range(120)]
    recs.append({"id": "d005", "text": "duplicate id in the second file"})
    a = jsonl(tmp_path / "x" / "a.jsonl", recs[:60])
    b = jsonl(tmp_path / "x" / "b.jsonl", recs[60:])
    shuffled = list(reversed(recs[60:]))
    b2 = jsonl(tmp_path / "y" / "b.jsonl", shuffled)
    a2 = jsonl(tmp_path / "y" / "a.jsonl", list(reversed(recs[:60])))
    _, docs1, rej1 = run_ingest(tmp_path / "1", [a, b])
    _, docs2, rej2 = run_ingest(tmp_path / "2", [b2, a2])
    cols = ["id", "source", "text", "n_chars"]
    assert docs1.select(cols).sort_by("id").equals(docs2.select(cols).sort_by("id"))
    assert rej1.column("id").to_pylist() == rej2.column("id").to_pylist() == ["d005"]
    # the same files listed in another order: byte-identical parts
    run_ingest(tmp_path / "3", [b, a])
    for name in ("documents/stage=ingest", "rejects/stage=ingest"):
        first = {p.name: p.read_bytes() for p in (tmp_path / "1" / "run" / name).glob("*.parquet")}
        again = {p.name: p.read_bytes() for p in (tmp_path / "3" / "run" / name).glob("*.parquet")}
        assert first == again and first, name
