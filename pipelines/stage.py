"""The stage contract: how a stage is declared, and the one runner every stage goes through.

A stage module declares one `Stage` (its name, config model, what it reads, what it writes,
its drop reasons) and is listed in `pipelines.stages.STAGES`. Its `run(ctx, cfg, docs,
upstream)` builds its Beam pipeline inside `run_stage`, which owns the rest: staging
directory, fingerprint and resume, the accounting identity, atomic publish, the stats file.

A stage is complete when `stats/<stage>.json` exists with the same fingerprint (its own
config plus the fingerprints of the stages it reads). That file is written last, so a
crash anywhere before it means the stage simply runs again on the next attempt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from thresher.pipelines import io, progress
from thresher.pipelines.beam_util import merge_counts
from thresher.scorers.errors import AccountingError


@dataclass
class StageContext:
    """What every stage needs besides its own config. `inputs` are the run's input files
    as `io.list_inputs` lists and fingerprints them, once per run (ingest reads them)."""

    run_dir: Path
    beam_args: list[str] = field(default_factory=list)
    partitions: int = 8
    inputs: list[list] = field(default_factory=list)

    def with_inputs(self, patterns: list[str]) -> StageContext:
        return replace(self, inputs=io.list_inputs(patterns))

    def stats_path(self, stage: str) -> Path:
        return self.run_dir / "stats" / f"{stage}.json"

    def stats(self, stage: str) -> dict:
        return io.read_json(self.stats_path(stage))


def _passes_on_what_it_read(docs, cfg):
    return docs


@dataclass(frozen=True)
class Stage:
    """A stage as the runner and the flow see it.

    `run(ctx, cfg, docs, upstream) -> stats` runs the stage on the document set `docs`
    (a `pipelines.docsets.DocSet`) written by the stage named `upstream` (None for the
    first), through `run_stage`. `passes_on(docs, cfg)` is the document set later stages
    read after this one (a filter returns its output table; an annotator, `docs` itself).
    `optional` sections are off unless configured; the others run with their defaults.
    """

    name: str
    config: type
    run: Callable[..., dict]
    reads: Literal["inputs", "documents"]
    writes: tuple[str, ...]
    reasons: tuple[str, ...] = ()
    passes_on: Callable[[Any, Any], Any] = _passes_on_what_it_read
    optional: bool = False
    description: str = ""

    def enabled(self, cfg) -> bool:
        return cfg is not None and getattr(cfg, "enabled", True)


PARTITION_INPUT_BYTES = 32 << 20  # ~100 MB of text per partition for gzipped JSONL


def default_partitions(input_bytes: int) -> int:
    """Hash partitions per shuffle for this much input: a stage holds one partition's
    rows at a time, so the count grows with the corpus to keep worker memory flat."""
    return max(8, -(-input_bytes // PARTITION_INPUT_BYTES))


def fingerprint(*parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def check_accounting(stage: str, counts: dict) -> None:
    """in = kept + sum(dropped) + rejected, or the run fails loudly."""
    dropped = sum(counts.get("dropped", {}).values())
    total = counts.get("kept", 0) + dropped + counts.get("rejected", 0)
    if counts.get("in", 0) != total:
        raise AccountingError(
            f"stage {stage}: in={counts.get('in', 0)} but kept={counts.get('kept', 0)} + "
            f"dropped={dropped} + rejected={counts.get('rejected', 0)} = {total}; "
            "records were lost or double-counted (a bug: please report it with this run's directory)"
        )


def run_stage(
    ctx: StageContext,
    stage: str,
    config: dict,
    upstream: list[str],
    outputs: list[str],
    body: Callable[[Path], dict],
) -> dict:
    """Run `body(staging_dir)` unless an identical run of the stage already finished.

    `outputs` are paths relative to the run directory that `body` writes under the
    staging directory; they replace the published ones only after the counts check out.
    `body` returns counts: in, kept, dropped {reason: n}, rejected, plus any extras.
    """
    stats_path = ctx.stats_path(stage)
    upstream_prints = [ctx.stats(name)["fingerprint"] for name in upstream]
    print_ = fingerprint(stage, config, upstream_prints, outputs)
    if stats_path.exists():
        previous = io.read_json(stats_path)
        if previous.get("fingerprint") == print_ and all(
            (ctx.run_dir / o).exists() for o in outputs
        ):
            return {**previous, "skipped": True}
        stats_path.unlink()  # outputs are about to change: the old stats no longer hold

    for stale in (ctx.run_dir / ".staging").glob(f"{stage}-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed attempt; never published
    staging = ctx.run_dir / ".staging" / f"{stage}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    started = time.time()
    try:
        with progress.follow(stage, staging, *_expected(ctx, upstream)):
            counts = body(staging)
        counts.setdefault("dropped", {})
        counts.setdefault("rejected", 0)
        check_accounting(stage, counts)
        for out in outputs:
            src, dst = staging / out, ctx.run_dir / out
            if not src.exists():
                if src.suffix:  # a file output the stage promised but did not write
                    raise RuntimeError(f"stage {stage} did not write {out}")
                src.mkdir(parents=True)  # an empty table directory: nothing of that kind
            if dst.exists():
                shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
            dst.parent.mkdir(parents=True, exist_ok=True)
            src.rename(dst)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    stats = {
        "stage": stage,
        "in": counts["in"],
        "kept": counts["kept"],
        "dropped": counts["dropped"],
        "rejected": counts["rejected"],
        "seconds": round(time.time() - started, 3),
        "fingerprint": print_,
        "config": config,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **{k: v for k, v in counts.items() if k not in {"in", "kept", "dropped", "rejected"}},
    }
    io.write_json(stats, stats_path)
    return {**stats, "skipped": False}


def _expected(ctx: StageContext, upstream: list[str]) -> tuple[int | None, int | None]:
    """(documents, bytes) the stage will read, for its progress report: what its upstream
    kept, or for the first stage the size of the input files."""
    if upstream and ctx.stats_path(upstream[0]).exists():
        return ctx.stats(upstream[0]).get("kept"), None
    return None, sum(size or 0 for _, size, _ in ctx.inputs) or None


def read_counts(staging: Path) -> dict:
    """Sum the per-unit count files the stage's workers wrote (see beam_util.record_counts)."""
    directory = staging / "_counts"
    counts = merge_counts(io.read_json(p) for p in sorted(directory.glob("*.json")))
    shutil.rmtree(directory, ignore_errors=True)
    return counts
