"""The `curate` flow: one Prefect task per stage, each a Beam pipeline.

Every stage is retry-safe (it writes to a staging directory and publishes atomically),
so tasks retry on unexpected failures; user errors and accounting errors never retry.
"""

from __future__ import annotations

from pathlib import Path

from thresher.flows.prefect_env import configure

configure()

from prefect import flow, task  # noqa: E402
from prefect.artifacts import create_table_artifact  # noqa: E402
from thresher.pipelines import exact_dedup, ingest, io, near_dedup  # noqa: E402
from thresher.pipelines import score as score_stage  # noqa: E402
from thresher.pipelines import shards as shard_stage  # noqa: E402
from thresher.pipelines.config import RunConfig  # noqa: E402
from thresher.pipelines.docsets import DocSet  # noqa: E402
from thresher.pipelines.runs import RunRecord, default_run_id  # noqa: E402
from thresher.pipelines.stage import StageContext, default_partitions  # noqa: E402
from thresher.scorers.errors import AccountingError, UserError  # noqa: E402

# What later stages read after exact dedup: ingest's documents minus its removals.
EXACT_SURVIVORS = exact_dedup.surviving(DocSet(ingest.DOCS_OUT))
FUNNEL_COLUMNS = ("stage", "in", "kept", "dropped", "rejected", "seconds", "skipped")


def _retry_unless_users_fault(task, task_run, state) -> bool:
    try:
        state.result()
    except (UserError, AccountingError):
        return False
    except Exception:
        return True
    return False


stage_task = task(retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_unless_users_fault)


@stage_task(name="ingest")
def ingest_task(ctx: StageContext, inputs: list[str], cfg: ingest.IngestConfig) -> dict:
    return ingest.run(ctx, inputs, cfg)


@stage_task(name="exact_dedup")
def exact_dedup_task(ctx: StageContext, cfg: exact_dedup.ExactDedupConfig) -> dict:
    return exact_dedup.run(ctx, cfg, ingest.DOCS_OUT, ingest.STAGE)


@stage_task(name="near_dedup")
def near_dedup_task(ctx: StageContext, cfg: near_dedup.NearDedupConfig) -> dict:
    return near_dedup.run(ctx, cfg, EXACT_SURVIVORS, exact_dedup.STAGE)


@stage_task(name="score")
def score_task(ctx: StageContext, cfg: score_stage.ScoreConfig, docs: str, upstream: str) -> dict:
    docs = DocSet.parse(docs)
    return score_stage.run(ctx, cfg, docs.part_paths(ctx.run_dir), [upstream],
                           docs.removed_map(ctx.run_dir))


@stage_task(name="shards")
def shards_task(ctx: StageContext, cfg: shard_stage.ShardsConfig, docs: str, upstream: str) -> dict:
    return shard_stage.run(ctx, cfg, docs, upstream)

def prepare_run(config: RunConfig) -> StageContext:
    """Resolve inputs (fails fast on a bad path), the run directory and the partition count.

    A stage holds one shuffle partition's rows at a time, so the default partition count
    grows with the input; it is a pure function of the inputs, so reruns resume the same run.
    """
    files = io.expand_inputs(config.inputs)
    fingerprints = [io.file_fingerprint(f) for f in files]
    run_id = config.run_id or default_run_id(config.model_dump(), fingerprints)
    partitions = config.partitions or default_partitions(
        sum(size or 0 for _, size, _ in fingerprints)
    )
    return StageContext(
        run_dir=Path(config.out).resolve() / "runs" / run_id,
        beam_args=list(config.beam_args),
        partitions=partitions,
    )


def funnel_rows(stats: list[dict]) -> list[dict]:
    return [
        {
            "stage": s["stage"],
            "in": s["in"],
            "kept": s["kept"],
            "dropped": sum(s["dropped"].values()),
            "rejected": s["rejected"],
            "seconds": s["seconds"],
            "skipped": s.get("skipped", False),
        }
        for s in stats
    ]


@flow(name="curate", log_prints=True)
def curate(config: RunConfig) -> dict:
    """Ingest -> exact dedup, into `<out>/runs/<run_id>/`. Returns the run summary."""
    ctx = prepare_run(config)
    record = RunRecord(ctx.run_dir, config.model_dump())
    stats: list[dict] = []
    try:
        s = ingest_task(ctx, config.inputs, config.ingest)
        stats.append(s)
        record.stage_done(s, ingest.DOCS_OUT)
        s = exact_dedup_task(ctx, config.exact_dedup)
        stats.append(s)
        record.stage_done(s, str(EXACT_SURVIVORS))
        if config.near_dedup.enabled:
            s = near_dedup_task(ctx, config.near_dedup)
            stats.append(s)
            record.stage_done(s, near_dedup.DOCS_OUT)
        if config.score is not None:  # after the last dedup stage, on what it kept
            s = score_task(ctx, config.score, record.data["final_documents"], stats[-1]["stage"])
            stats.append(s)
            record.stage_done(s, score_stage.SELECTED_OUT if config.score.rule else None)
        if config.shards is not None:  # last: tokenizes whatever the run kept
            s = shards_task(ctx, config.shards, record.data["final_documents"], stats[-1]["stage"])
            stats.append(s)
            record.stage_done(s)
    except BaseException as exc:
        record.finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    record.finish("succeeded")
    rows = funnel_rows(stats)
    create_table_artifact(
        key="curate-funnel", table=rows, description=f"Per-stage counts of {ctx.run_dir.name}"
    )
    return {"run_dir": str(ctx.run_dir), "run_id": ctx.run_dir.name, "funnel": rows}
