"""The Megatron indexed-dataset writer, checked by a reader written here from the spec.

Spec (little-endian): magic b"MMIDIDX\\x00\\x00", uint64 version 1, uint8 dtype code,
uint64 sequence_count, uint64 document_count, int32 lengths, int64 pointers (byte offsets
into .bin), int64 document_indices starting at 0 and ending at sequence_count.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from thresher.scorers import megatron
from thresher.scorers.errors import ConfigError, InputError


def spec_read(prefix):
    """An independent reader: parse .idx by hand, slice .bin by pointers."""
    idx = Path(f"{prefix}.idx").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack("<Q", idx[9:17])
    code = idx[17]
    n_seq, n_doc = struct.unpack("<QQ", idx[18:34])
    off = 34
    lengths = struct.unpack(f"<{n_seq}i", idx[off : off + 4 * n_seq])
    off += 4 * n_seq
    pointers = struct.unpack(f"<{n_seq}q", idx[off : off + 8 * n_seq])
    off += 8 * n_seq
    doc_idx = struct.unpack(f"<{n_doc}q", idx[off : off + 8 * n_doc])
    assert off + 8 * n_doc == len(idx), "trailing bytes after document_indices"
    dtype = {8: "<u2", 4: "<i4"}[code]
    size = np.dtype(dtype).itemsize
    data = Path(f"{prefix}.bin").read_bytes()
    docs = [
        np.frombuffer(data[p : p + n * size], dtype).tolist()
        for p, n in zip(pointers, lengths, strict=True)
    ]
    return {
        "version": version,
        "code": code,
        "n_seq": n_seq,
        "n_doc": n_doc,
        "lengths": lengths,
        "pointers": pointers,
        "doc_idx": doc_idx,
        "docs": docs,
        "bin_size": len(data),
    }


def write(prefix, docs, dtype):
    w = megatron.ShardWriter(prefix, dtype)
    for d in docs:
        w.add(np.asarray(d, np.uint32))
    return w.close()


@pytest.mark.parametrize(("dtype", "code", "top"), [("uint16", 8, 65_535), ("int32", 4, 2**31 - 1)])
def test_writer_matches_the_spec(tmp_path, dtype, code, top):
    rng = np.random.default_rng(0)
    docs = [[*rng.integers(0, 1000, rng.integers(1, 50)).tolist(), top] for _ in range(40)]
    docs.insert(3, [7])  # a one-token document
    info = write(tmp_path / "s", docs, dtype)
    got = spec_read(tmp_path / "s")
    assert got["version"] == 1 and got["code"] == code
    assert got["n_seq"] == len(docs) and got["n_doc"] == len(docs) + 1
    assert got["doc_idx"][0] == 0 and got["doc_idx"][-1] == got["n_seq"]
    assert list(got["doc_idx"]) == list(range(len(docs) + 1))
    size = np.dtype(dtype).itemsize
    running = np.concatenate([[0], np.cumsum(got["lengths"])[:-1]]) * size
    assert list(got["pointers"]) == running.tolist()
    assert got["bin_size"] == sum(got["lengths"]) * size
    assert got["docs"] == docs
    assert info["documents"] == len(docs) and info["tokens"] == sum(map(len, docs))
    assert info["sha256"] == megatron.file_sha256(tmp_path / "s.bin")
    assert megatron.check_shard(tmp_path / "s") == []
    assert [
        t.tolist() for t in (megatron.Shard(tmp_path / "s")[i] for i in range(len(docs)))
    ] == docs
    assert not list(tmp_path.glob(".tmp-*")), "temporary files left behind"


def test_dtype_rule_and_overflow(tmp_path):
    assert megatron.choose_dtype(32_000).name == "uint16"
    assert megatron.choose_dtype(65_499).name == "uint16"
    assert megatron.choose_dtype(65_500).name == "int32"  # Megatron's cut-off
    assert megatron.choose_dtype(65_536, "uint16").name == "uint16"  # ids 0..65535 fit
    with pytest.raises(ConfigError, match="does not fit dtype uint16"):
        megatron.choose_dtype(70_000, "uint16")
    w = megatron.ShardWriter(tmp_path / "x", "uint16")
    with pytest.raises(ConfigError, match="does not fit dtype uint16"):
        w.add(np.array([1, 65_536], np.uint32))  # would wrap to 0 if cast silently
    assert not list(tmp_path.iterdir()), "a failed shard must leave no files"


def test_check_shard_finds_damage(tmp_path):
    write(tmp_path / "s", [[1, 2, 3], [4, 5]], "uint16")
    (tmp_path / "s.bin").write_bytes((tmp_path / "s.bin").read_bytes()[:-2])
    assert any(".bin holds 4 tokens" in p for p in megatron.check_shard(tmp_path / "s"))
    (tmp_path / "t.idx").write_bytes(b"NOTANIDX" + bytes(40))
    (tmp_path / "t.bin").write_bytes(b"")
    assert "magic" in megatron.check_shard(tmp_path / "t")[0]
    with pytest.raises(InputError, match="does not exist"):
        megatron.read_index(tmp_path / "missing.idx")


def test_empty_shard_is_valid(tmp_path):
    write(tmp_path / "e", [], "uint16")
    got = spec_read(tmp_path / "e")
    assert got["n_seq"] == 0 and got["doc_idx"] == (0,)
    assert megatron.check_shard(tmp_path / "e") == []


def test_megatron_core_reads_our_shards(tmp_path):
    mod = pytest.importorskip(
        "megatron.core.datasets.indexed_dataset",
        reason="megatron-core is not installed (optional cross-check; it pulls CUDA torch)",
    )
    docs = [[5, 6, 7, 0], [8, 0], [9, 10, 11, 12, 0]]
    write(tmp_path / "m", docs, "uint16")
    ds = mod.IndexedDataset(str(tmp_path / "m"))
    assert len(ds) == len(docs)
    assert [ds[i].tolist() for i in range(len(docs))] == docs
    assert ds.document_indices.tolist() == [0, 1, 2, 3]
