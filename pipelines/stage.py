"""The stage contract: how a stage is declared, and the one runner every stage goes through.

A stage module declares one `Stage` (its name, config model, what it reads, what it writes,
its drop reasons) and is listed in `pipelines.stages.STAGES`. Its `run(ctx, cfg, docs,
upstream)` builds its Beam pipeline inside `run_stage`, which owns the rest: staging
directory, fingerprint and resume, the accounting identity, atomic publish, the stats file.

A stage is complete when `stats/<stage>.json` exists with the same fingerprint (its own
config plus the fingerprints and output records of the stages it reads) and the files it
recorded there are still in place (see pipelines.outputs). That file is written last, so a
crash anywhere before it means the stage simply runs again on the next attempt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from thresher.pipelines import io, outputs, progress
from thresher.pipelines.beam_util import merge_counts
from thresher.pipelines.collection import CollectionView
from thresher.scorers.errors import AccountingError, UpstreamChangedError


@dataclass
class StageContext:
    """What every stage needs besides its own config. `inputs` are the run's input files
    as `io.list_inputs` lists and fingerprints them, once per run (ingest reads them)."""

    run_dir: Path
    beam_args: list[str] = field(default_factory=list)
    partitions: int = 8
    inputs: list[list] = field(default_factory=list)
    # set when the run is a batch of a collection (see pipelines.collection): the dedup
    # stages then also look up what earlier batches kept
    collection: CollectionView | None = None

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
    `check(cfg)` loads what the config names (models, tokenizers, mixture files) and raises
    a one-line error, before the run's first stage starts.
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
    check: Callable[[Any], None] | None = None

    def enabled(self, cfg) -> bool:
        return cfg is not None and getattr(cfg, "enabled", True)


log = logging.getLogger(__name__)
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


def check_input(stage: str, counts: dict, upstream: list[str], upstream_stats: list[dict]) -> None:
    """The documents a stage read are the ones its upstream stage kept, or the run fails."""
    if upstream and counts.get("in", 0) != upstream_stats[0]["kept"]:
        raise UpstreamChangedError(
            f"stage {stage}: read {counts.get('in', 0)} documents but {upstream[0]} kept "
            f"{upstream_stats[0]['kept']}: its outputs changed after it finished; check them "
            "with `thresher verify RUN_DIR`"
        )


def run_stage(
    ctx: StageContext,
    stage: str,
    config: dict,
    upstream: list[str],
    published: list[str],
    body: Callable[[Path], dict],
) -> dict:
    """Run `body(staging_dir)` unless an identical run of the stage already finished.

    `published` are paths relative to the run directory that `body` writes under the
    staging directory; they replace the published ones only after the counts check out, and
    are recorded (sizes, checksums, Parquet rows) in the stats so a resume can verify them.
    `body` returns counts: in, kept, dropped {reason: n}, rejected, plus any extras; `in`
    must equal what the upstream stage kept.
    """
    stats_path = ctx.stats_path(stage)
    # what this stage reads is part of its identity: the upstream stages' fingerprints and
    # the checksums of what they published (a rerun upstream that wrote other bytes means
    # this stage runs again; one that wrote the same bytes does not)
    upstream_stats = [ctx.stats(name) for name in upstream]
    upstream_prints = [(s["fingerprint"], outputs.digest(s.get("outputs"))) for s in upstream_stats]
    print_ = fingerprint(stage, config, upstream_prints, published)
    if stats_path.exists():
        previous = io.read_json(stats_path)
        if previous.get("fingerprint") == print_:
            damaged = outputs.problems(ctx.run_dir, published, previous.get("outputs"))
            if not damaged:
                return {**previous, "skipped": True}
            more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
            log.warning(f"{stage}: {damaged[0]}{more}; running the stage again")
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
        check_input(stage, counts, upstream, upstream_stats)
        for out in published:
            src = staging / out
            if not src.exists():
                if src.suffix:  # a file output the stage promised but did not write
                    raise RuntimeError(f"stage {stage} did not write {out}")
                src.mkdir(parents=True)  # an empty table directory: nothing of that kind
        recorded = outputs.record(staging, published)  # what is published, before it moves
        for out in published:
            src, dst = staging / out, ctx.run_dir / out
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
        "published": published,
        "outputs": recorded,
        **{k: v for k, v in counts.items() if k not in {"in", "kept", "dropped", "rejected"}},
    }
    io.write_json(stats, stats_path)
    return {**stats, "skipped": False}


def verify_run(run_dir: Path, full: bool = True, repair: bool = False) -> list[dict]:
    """Every finished stage of a run checked against its output record (with checksums
    when `full`): [{stage, files, bytes, problems}]. With `repair`, a stage with problems
    loses its stats file, so the next run of the same command redoes it (a resume checks
    only sizes and footers, so it would not see a same-size change by itself)."""
    rows = []
    for path in sorted((Path(run_dir) / "stats").glob("*.json")):
        stats = io.read_json(path)
        recorded = stats.get("outputs")
        found = outputs.problems(Path(run_dir), stats.get("published", []), recorded, full)
        if found and repair:
            path.unlink()
        rows.append(
            {
                "stage": stats.get("stage", path.stem),
                "files": len(recorded or {}),
                "bytes": sum(e["bytes"] for e in (recorded or {}).values()),
                "problems": found,
            }
        )
    return rows


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
