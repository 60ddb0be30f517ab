"""Checking a shard set against its manifest and the Megatron format, and describing a shard.

Used by `thresher shards verify DIR` and `thresher shards inspect PATH`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thresher.pipelines import io
from thresher.scorers import megatron
from thresher.scorers.errors import InputError


def verify_set(directory: str | Path) -> tuple[list[dict], list[str]]:
    """(one status row per manifest shard, every problem found). Checks: both files exist,
    the index follows the spec, counts/dtype/sha256 match the manifest, no stray shard
    files, and the blend file names exactly the manifest's shards."""
    d = Path(directory)
    manifest = d / "manifest.parquet"
    if not manifest.is_file():
        raise InputError(
            f"{d} has no manifest.parquet: pass a shard set directory "
            "(<out> of `thresher shards`, or <run>/shards/<name>)"
        )
    rows, problems = [], []
    listed = io.read_table([manifest]).to_pylist()
    for m in listed:
        prefix = d / m["shard"]
        found = megatron.check_shard(prefix)
        if not found:
            ix = megatron.read_index(prefix.with_suffix(".idx"))
            tokens = int(ix.lengths.astype(np.int64).sum())
            for what, got, want in (
                ("documents", ix.sequence_count, m["documents"]),
                ("tokens", tokens, m["tokens"]),
                ("dtype", ix.dtype.name, m["dtype"]),
                ("sha256", megatron.file_sha256(prefix.with_suffix(".bin")), m["sha256"]),
                ("idx_sha256", megatron.file_sha256(prefix.with_suffix(".idx")), m["idx_sha256"]),
            ):
                if got != want:
                    found.append(f"{what} is {got}, manifest says {want}")
        problems += [f"{m['shard']}: {p}" for p in found]
        rows.append(
            {
                "shard": m["shard"],
                "group": m.get("group") or m["source"],  # older manifests: source
                "documents": m["documents"],
                "tokens": m["tokens"],
                "dtype": m["dtype"],
                "ok": not found,
            }
        )
    names = {m["shard"] for m in listed}
    on_disk = {p.stem for p in d.glob("*.bin")} | {p.stem for p in d.glob("*.idx")}
    problems += [f"{s}: shard file not in the manifest" for s in sorted(on_disk - names)]
    blend_path = d / "blend.json"
    if not blend_path.is_file():
        problems.append("blend.json is missing")
    elif sorted(io.read_json(blend_path)["prefixes"]) != sorted(names):
        problems.append("blend.json prefixes differ from the manifest's shards")
    return rows, problems


def describe(prefix: str | Path) -> dict:
    """Header fields and counts of one shard."""
    shard = megatron.Shard(prefix)
    ix = shard.index
    lengths = ix.lengths.astype(np.int64)
    raw = shard.prefix.with_suffix(".idx").read_bytes()[: megatron.HEADER.size]
    magic, version, code, n_seq, n_doc = megatron.HEADER.unpack(raw)
    return {
        "prefix": str(shard.prefix),
        "magic": repr(magic),
        "version": version,
        "dtype_code": code,
        "dtype": ix.dtype.name,
        "sequence_count": n_seq,
        "document_count": n_doc,
        "tokens": int(lengths.sum()),
        "bin_bytes": shard.prefix.with_suffix(".bin").stat().st_size,
        "min_length": int(lengths.min()) if len(lengths) else 0,
        "max_length": int(lengths.max()) if len(lengths) else 0,
        "mean_length": round(float(lengths.mean()), 2) if len(lengths) else 0.0,
        "problems": "; ".join(megatron.check_shard(prefix)) or "none",
    }


def tokenizer_of(prefix: str | Path) -> str | None:
    """The tokenizer a shard was written with, from the stats next to it (standalone set)
    or the run's stats/shards.json (shards inside a run)."""
    d = Path(prefix).parent
    for stats in (d / "stats.json", d.parent.parent / "stats" / "shards.json"):
        if stats.is_file():
            path = (io.read_json(stats).get("config") or {}).get("tokenizer")
            path = path or ((io.read_json(stats).get("config") or {}).get("shards") or {}).get(
                "tokenizer"
            )
            if path and Path(path).is_file():
                return path
    return None
