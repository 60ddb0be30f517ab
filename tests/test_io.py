"""The one file reader: lines come out the same whatever the block size or compression."""

from __future__ import annotations

import gzip
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from thresher.pipelines import io


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_read_lines_matches_split_for_any_block_size(tmp_path, suffix):
    rng = random.Random(5)
    pack = {".jsonl": bytes, ".jsonl.gz": gzip.compress, ".jsonl.zst": zstandard.compress}[suffix]
    path = tmp_path / f"x{suffix}"
    for _ in range(150):
        text = bytes(rng.choice(b"ab\n\r") for _ in range(rng.randint(0, 40)))
        path.write_bytes(pack(text))
        expected = text.split(b"\n")
        if expected[-1] == b"":
            expected.pop()  # a final newline ends the last line; it does not start one
        for block_size in (1, 2, 3, 7, 1 << 20):
            assert list(io.read_lines(str(path), block_size=block_size)) == expected, (
                text,
                block_size,
            )


def test_zstd_frames_are_read_one_after_another(tmp_path):
    data = b"".join(b'{"n": %d}\n' % i for i in range(5000))
    path = tmp_path / "multi.jsonl.zst"
    path.write_bytes(zstandard.compress(data[:20000]) + zstandard.compress(data[20000:]))
    assert b"\n".join(io.read_lines(str(path))) + b"\n" == data


def _gzip_member(data: bytes, bad_crc: bool = False) -> bytes:
    member = bytearray(gzip.compress(data, mtime=0))
    if bad_crc:
        member[-8] ^= 1  # the trailer's CRC-32
    return bytes(member)


@pytest.mark.parametrize("block_size", [1, 2, 3, 7, 1 << 20])
@pytest.mark.parametrize("hold", [True, False])
def test_lines_from_a_member_that_fails_its_check_are_marked(
    tmp_path, monkeypatch, block_size, hold
):
    if not hold:  # the file is decoded twice: verification, then the reading pass
        monkeypatch.setattr(io, "HOLD_BYTES", 0)
    path = tmp_path / "m.jsonl.gz"
    path.write_bytes(
        _gzip_member(b"a\nb")
        + _gzip_member(b"c\nd\n", bad_crc=True)
        + _gzip_member(b"e\nf\n")
        + _gzip_member(b"g\n")
    )
    marked = [
        (line, damage is not None)
        for lines, damage in io.read_line_blocks(str(path), block_size=block_size)
        for line in lines
    ]
    # "bc" spans into the damaged member; "e" starts right after its (unverified) "\n"
    assert marked == [
        (b"a", False),
        (b"bc", True),
        (b"d", True),
        (b"e", True),
        (b"f", False),
        (b"g", False),
    ]
    with pytest.raises(io.CorruptInputError, match="gzip member 2"):
        assert list(io.read_lines(str(path), block_size=block_size)) == [b"a"]


def test_gzip_headers_with_optional_fields_and_zero_padding(tmp_path):
    body = gzip.compress(b"x\ny\n", mtime=0)
    extra = b"\x04\x00abcd"  # FEXTRA: length 4, then the field
    header = body[:3] + bytes([4 | 8 | 16 | 2]) + body[4:10] + extra + b"name\0comment\0" + b"\0\0"
    path = tmp_path / "h.jsonl.gz"
    path.write_bytes(header + body[10:] + body + bytes(100))  # FHCRC (unchecked), padding
    assert list(io.read_lines(str(path))) == [b"x", b"y", b"x", b"y"]
    assert gzip.decompress(path.read_bytes()) == b"x\ny\nx\ny\n"  # the stdlib agrees


@pytest.mark.parametrize("cut", [1, 5, 11, 20, -9, -4, -1])
def test_a_gzip_file_cut_anywhere_marks_its_last_member(tmp_path, cut):
    first, second = _gzip_member(b"one\ntwo\n"), _gzip_member(b"three\nfour\n" * 20)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(first + second[:cut])
    got = []
    with pytest.raises(EOFError, match="truncated"):
        for lines, damage in io.read_line_blocks(str(path)):
            got += [(line, damage is None) for line in lines]
    assert got[:2] == [(b"one", True), (b"two", True)]
    assert all(not ok for _, ok in got[2:])  # nothing of the cut member passes for intact


def test_a_sorted_lookup_reads_only_the_row_groups_that_can_hold_its_keys(tmp_path):
    import numpy as np
    import pyarrow as pa

    from thresher.pipelines import io

    ids = [f"d{i:06d}" for i in range(10_000)]
    path = io.write_parquet(pa.table({"id": ids}), tmp_path / "s.parquet", row_group_size=1024)
    pf = io.read_parquet_file(str(path))
    wanted = np.sort(np.array(["d000005", "d005000", "d009999", "zzz", "a"], dtype=object))
    groups = io.row_groups_with(pf, "id", wanted)
    assert groups == [0, 4, 9]
    found = pa.concat_tables([pf.read_row_group(g) for g in groups])["id"].to_pylist()
    assert {"d000005", "d005000", "d009999"} <= set(found)


def test_streamed_parquet_with_row_group_rows_is_byte_identical_to_one_write(tmp_path):
    """Tables of any sizes streamed with row_group_rows give the bytes write_parquet gives
    for their concatenation (row groups cut at the same rows), across several groups."""
    import numpy as np

    from thresher.pipelines import schemas

    rng = np.random.default_rng(0)
    n = 150_000
    table = pa.table(
        {
            "id": [f"d{i}" for i in rng.permutation(n)],
            "cluster_id": [f"c{i // 3}" for i in range(n)],
            "kept": rng.random(n) < 0.3,
            "similarity_to_keeper": rng.random(n),
        },
        schema=schemas.NEAR_CLUSTERS,
    )
    io.write_parquet(table, tmp_path / "one.parquet", row_group_size=32_768)
    cuts = np.sort(rng.choice(n, 40, replace=False)).tolist()
    pieces = [table.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    rows = io.write_parquet_batches(
        pieces, schemas.NEAR_CLUSTERS, tmp_path / "streamed.parquet", row_group_rows=32_768
    )
    assert rows == n
    one, streamed = (tmp_path / "one.parquet").read_bytes(), (tmp_path / "streamed.parquet")
    assert streamed.read_bytes() == one
    assert pq.ParquetFile(streamed).metadata.num_row_groups == 5


def test_merge_sorted_runs_equals_one_sort():
    """Runs sorted by (cluster_id, id), in batches of any size, merge into exactly the rows
    one sort of everything gives, in that order."""
    import random

    from thresher.pipelines.sorted_merge import merge_sorted

    rng = random.Random(3)
    rows = [(f"c{rng.randrange(400):03d}", f"d{i:05d}") for i in range(3000)]
    runs = [[] for _ in range(6)]
    for c, d in rows:
        runs[hash(c) % 6].append((c, d))  # a cluster lives in one run

    def batches(run):
        run = sorted(run)
        i = 0
        while i < len(run):
            n = rng.randint(1, 300)
            chunk = run[i : i + n]
            yield pa.table({"cluster_id": [c for c, _ in chunk], "id": [d for _, d in chunk]})
            i += n

    merged = pa.concat_tables(merge_sorted([batches(r) for r in runs], ["cluster_id", "id"]))
    assert list(
        zip(merged["cluster_id"].to_pylist(), merged["id"].to_pylist(), strict=True)
    ) == sorted(rows)
