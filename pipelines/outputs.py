"""What a stage published, recorded in its stats so that a resume can tell the outputs are
still there and intact.

Each output file is recorded with its size, an xxh3-128 checksum and, for Parquet, its row
count. A resume checks the cheap part on every file (present, same size, readable Parquet
footer with the same rows, no file that was not published); `thresher verify RUN` also
recomputes the checksums. xxh3 rather than sha256: it runs at memory speed, so recording
costs one read of the outputs, which are usually still in the page cache.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import xxhash

CHUNK = 8 << 20


def checksum(path: Path) -> str:
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _files(run_dir: Path, outputs: list[str]) -> list[Path]:
    found = []
    for out in outputs:
        root = run_dir / out
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            found += sorted(p for p in root.rglob("*") if p.is_file())
    return found


def _parquet_rows(path: Path) -> int | None:
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # pyarrow raises several types for a damaged footer
        return None


def record(run_dir: Path, outputs: list[str]) -> dict[str, dict]:
    """{run-relative path: {bytes, xxh3[, rows]}} for every file under `outputs`."""
    files = {}
    for path in _files(run_dir, outputs):
        entry = {"bytes": path.stat().st_size, "xxh3": checksum(path)}
        if path.suffix == ".parquet":
            entry["rows"] = _parquet_rows(path)
        files[str(path.relative_to(run_dir))] = entry
    return files


def problems(
    run_dir: Path, outputs: list[str], recorded: dict | None, full: bool = False
) -> list[str]:
    """What differs between the published outputs and their record (empty: intact)."""
    if recorded is None:
        return ["no record of its outputs (written by an older Thresher)"]
    found = []
    present = {str(p.relative_to(run_dir)): p for p in _files(run_dir, outputs)}
    for name in sorted(set(present) - set(recorded)):
        found.append(f"{name} was not published by this stage")
    for name, entry in sorted(recorded.items()):
        path = present.get(name)
        if path is None:
            found.append(f"{name} is missing")
        elif path.stat().st_size != entry["bytes"]:
            found.append(f"{name} has {path.stat().st_size} bytes, {entry['bytes']} were written")
        elif "rows" in entry and _parquet_rows(path) != entry["rows"]:
            found.append(f"{name} is not the Parquet file that was written (footer or row count)")
        elif full and checksum(path) != entry["xxh3"]:
            found.append(f"{name} does not match its checksum")
    return found


def digest(recorded: dict | None) -> str | None:
    """One value for a stage's whole output record (later stages fingerprint it)."""
    if recorded is None:
        return None
    h = xxhash.xxh3_128()
    for name, entry in sorted(recorded.items()):
        h.update(f"{name}\t{entry['xxh3']}\n".encode())
    return h.hexdigest()
