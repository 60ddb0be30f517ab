"""The one file reader: lines come out the same whatever the block size or compression."""

from __future__ import annotations

import gzip
import random

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
            assert list(io.read_lines(str(path), block_size=block_size)) == expected, (text, block_size)


def test_zstd_frames_are_read_one_after_another(tmp_path):
    data = b"".join(b'{"n": %d}\n' % i for i in range(5000))
    path = tmp_path / "multi.jsonl.zst"
    path.write_bytes(zstandard.compress(data[:20000]) + zstandard.compress(data[20000:]))
    assert b"\n".join(io.read_lines(str(path))) + b"\n" == data
