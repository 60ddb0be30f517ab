"""Every stage of a run, in run order. Adding a stage: write its module (a config model,
`run(ctx, cfg, docs, upstream)` through `stage.run_stage`, a `STAGE_DEF = Stage(...)`) and
list it here; its config section, its Prefect task and its place in `thresher run` follow.

The filter stages (language ID, heuristics) move as a pair: right after exact dedup (the
default) or right after near dedup (the run config's `filters_after`), see `run_order`.
"""

from __future__ import annotations

from thresher.pipelines import (
    exact_dedup,
    ingest,
    language_id,
    near_dedup,
    quality_filters,
    score,
    shards,
)
from thresher.pipelines.stage import Stage

STAGES: tuple[Stage, ...] = (
    ingest.STAGE_DEF,
    exact_dedup.STAGE_DEF,
    language_id.STAGE_DEF,  # optional; after exact dedup so each text is identified once
    quality_filters.STAGE_DEF,  # optional; before near dedup, which then compares fewer texts
    near_dedup.STAGE_DEF,
    score.STAGE_DEF,  # after the last dedup stage, on what it kept
    shards.STAGE_DEF,  # last: tokenizes whatever the run kept
)
BY_NAME = {s.name: s for s in STAGES}

FILTER_STAGES = ("language_id", "quality_filters")
# after exact dedup, each distinct text is judged once and near dedup compares fewer; after
# near dedup, fewer documents are measured when near duplicates are many
FILTER_PLACES = ("exact_dedup", "near_dedup")


def run_order(filters_after: str = "exact_dedup") -> tuple[Stage, ...]:
    """Every stage in run order, with the filter stages right after `filters_after`."""
    if filters_after not in FILTER_PLACES:
        raise ValueError(f"filters_after must be one of {FILTER_PLACES}, not {filters_after!r}")
    rest = [s for s in STAGES if s.name not in FILTER_STAGES]
    at = [s.name for s in rest].index(filters_after) + 1
    return (*rest[:at], *(BY_NAME[n] for n in FILTER_STAGES), *rest[at:])
