"""Every stage of a run, in run order. Adding a stage: write its module (a config model,
`run(ctx, cfg, docs, upstream)` through `stage.run_stage`, a `STAGE_DEF = Stage(...)`) and
list it here; its config section, its Prefect task and its place in `thresher run` follow.
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
