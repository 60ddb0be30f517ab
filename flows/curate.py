"""The `curate` flow: a loop over the configured stages, one Prefect task per stage, each a
Beam pipeline run through `pipelines.stage.run_stage`.

Every stage is retry-safe (it writes to a staging directory and publishes atomically),
so tasks retry on unexpected failures; user errors and accounting errors never retry.
Each stage's counts and drop reasons go to the Prefect log; the run's funnel is published
as a table and a markdown artifact.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from thresher.flows.dashboard.links import flow_run_info, publish_run_link
from thresher.pipelines import collection, io, runlock
from thresher.pipelines.collection import Collection, batch_run_id, collection_dir
from thresher.pipelines.config import RunConfig
from thresher.pipelines.docsets import DocSet
from thresher.pipelines.runs import RunRecord, default_run_id
from thresher.pipelines.stage import Stage, StageContext, default_partitions
from thresher.pipelines.stages import BY_NAME, run_order
from thresher.scorers.errors import AccountingError, ConfigError, UserError

FUNNEL_COLUMNS = ("stage", "in", "kept", "dropped", "rejected", "seconds", "skipped")


def _retry_unless_users_fault(task, task_run, state) -> bool:
    try:
        state.result()
    except (UserError, AccountingError):
        return False
    except Exception as exc:  # a full disk stays full for the next attempt
        return "No space left on device" not in str(exc)
    return False


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_unless_users_fault)
def run_stage_task(stage: Stage, ctx: StageContext, cfg, docs: str, upstream: str | None) -> dict:
    stats = stage.run(ctx, cfg, docs, upstream)
    undeclared = sorted(set(stats["dropped"]) - set(stage.reasons))
    if undeclared:  # reports and dashboards key on the declared reasons
        raise AccountingError(
            f"stage {stage.name} dropped documents for undeclared reasons "
            f"{undeclared}: add them to its Stage(reasons=...)"
        )
    log_stage(stats)
    return stats


def log_stage(stats: dict) -> None:
    """One line per stage in the Prefect log, next to its task (the `thresher` loggers are
    Prefect extra loggers, see flows/prefect_env.configure)."""
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats["dropped"].items()) if v) or "none"
    how = "unchanged, skipped" if stats.get("skipped") else f"{stats['seconds']} s"
    logging.getLogger("thresher.stages").info(
        f"{stats['stage']}: in {stats['in']}, kept {stats['kept']}, dropped {sum(stats['dropped'].values())} "
        f"({reasons}), rejected {stats['rejected']} ({how})"
    )


def planned_stages(
    config: RunConfig, only: tuple[str, ...] | None = None
) -> list[tuple[Stage, object]]:
    """(stage, its config) for every stage the config turns on, in run order (the filter
    stages where `filters_after` puts them); `only` restricts the run to those stages (each
    must be configured)."""
    if only is not None:
        unknown = [n for n in only if n not in BY_NAME]
        if unknown:
            raise ConfigError(f"unknown stage {unknown[0]!r}: stages are {', '.join(BY_NAME)}")
    chosen = []
    for stage in run_order(config.filters_after):
        cfg = getattr(config, stage.name)
        if only is not None and stage.name not in only:
            continue
        if not stage.enabled(cfg):
            if only is not None and stage.optional:
                raise ConfigError(
                    f"stage {stage.name} has no `{stage.name}:` section in the config"
                )
            continue
        chosen.append((stage, cfg))
    return chosen


def prepare_out(config: RunConfig) -> Path:
    """The output root, created and checked writable."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: pass a directory (it is created if missing)")
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create --out {out}: {exc.strerror}; pass a writable directory"
        ) from None
    if not os.access(out / "runs", os.W_OK):
        raise ConfigError(f"--out {out} is not writable: pass a directory you can write to")
    return out.resolve()


def prepare_run(config: RunConfig) -> StageContext:
    """List and fingerprint the inputs (once; fails fast on a bad path), and choose the run
    directory and the partition count.

    A stage holds one shuffle partition's rows at a time, so the default partition count
    grows with the input; it is a pure function of the inputs, so reruns resume the same run.
    """
    prepare_out(config)
    inputs = io.list_inputs(config.inputs)
    run_id = config.run_id or default_run_id(config.model_dump(), inputs)
    partitions = config.partitions or default_partitions(sum(size or 0 for _, size, _ in inputs))
    return StageContext(
        run_dir=Path(config.out).resolve() / "runs" / run_id,
        beam_args=list(config.beam_args),
        partitions=partitions,
        inputs=inputs,
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


def funnel_markdown(run_dir: Path, stats: list[dict]) -> str:
    """The run report published as a Prefect artifact: funnel, reasons, reject samples."""
    lines = [
        f"# Run {run_dir.name}",
        "",
        "| stage | in | kept | dropped | rejected | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in funnel_rows(stats):
        lines.append(
            f"| {r['stage']} | {r['in']} | {r['kept']} | {r['dropped']} | {r['rejected']} | "
            f"{r['seconds']}{' (skipped)' if r['skipped'] else ''} |"
        )
    lines += ["", "## Dropped and rejected, by reason", ""]
    for s in stats:
        by_reason = {**s["dropped"], **s.get("rejected_by_reason", {})}
        for reason, n in sorted(by_reason.items()):
            if n:
                lines.append(f"- {s['stage']}: {reason} {n}")
    samples = reject_samples(run_dir)
    if samples:
        lines += [
            "",
            "## Reject samples (up to 3 per reason)",
            "",
            "| stage | reason | file:line | raw |",
            "|---|---|---|---|",
        ]
        for stage, reason, file, line, raw in samples:
            raw = (raw or "").replace("|", "\\|").replace("\n", " ")[:120]
            lines.append(f"| {stage} | {reason} | {Path(file or '').name}:{line} | `{raw}` |")
    return "\n".join(lines)


def reject_samples(run_dir: Path, per_reason: int = 3) -> list[tuple]:
    """(stage, reason, file, line, raw) for the first rejects of every reason."""
    import duckdb

    if not list(run_dir.glob("rejects/*/part-*.parquet")):
        return []
    glob = str(run_dir / "rejects" / "*" / "part-*.parquet").replace("'", "''")
    return (
        duckdb.connect(":memory:")
        .execute(
            "SELECT stage, reason, file, line, raw FROM read_parquet(?, hive_partitioning=true) "
            "QUALIFY row_number() OVER (PARTITION BY stage, reason ORDER BY file, line) <= ? "
            "ORDER BY stage, reason, file, line",
            [glob, per_reason],
        )
        .fetchall()
    )


def _run_locked(ctx: StageContext, config: RunConfig, plan) -> list[dict]:
    batch = ctx.collection.batch if ctx.collection else None
    record = RunRecord(ctx.run_dir, config.model_dump(), batch)
    record.data["prefect"] = flow_run_info()  # the dashboard's link to this flow run
    record.data["stage_order"] = [stage.name for stage, _ in plan]  # filters_after moves some
    stats: list[dict] = []
    docs, upstream = DocSet(""), None
    try:
        for stage, cfg in plan:
            s = run_stage_task.with_options(name=stage.name)(stage, ctx, cfg, str(docs), upstream)
            stats.append(s)
            docs, upstream = stage.passes_on(docs, cfg), stage.name
            record.stage_done(s, str(docs))
    except BaseException as exc:
        record.finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    record.finish("succeeded")
    return stats


@flow(name="curate", log_prints=True)
def curate(config: RunConfig, only: tuple[str, ...] | None = None) -> dict:
    """The configured stages (or `only` those), in order, into `<out>/runs/<run_id>/`.
    Returns the run summary."""
    plan = planned_stages(config, only)
    for stage, cfg in plan:  # every configured model, tokenizer and file, before any work
        if stage.check is not None:
            stage.check(cfg)
    if config.collection:
        return curate_collection(config, plan)
    ctx = prepare_run(config)
    with runlock.hold(ctx.run_dir):  # one writer per run: a second one exits with one line
        stats = _run_locked(ctx, config, plan)
    return publish_report(ctx, stats)


def publish_report(ctx: StageContext, stats: list[dict]) -> dict:
    """The run's funnel and report as Prefect artifacts; returns the run summary."""
    rows = funnel_rows(stats)
    create_table_artifact(
        key="curate-funnel", table=rows, description=f"Per-stage counts of {ctx.run_dir.name}"
    )
    create_markdown_artifact(
        key="curate-report",
        markdown=funnel_markdown(ctx.run_dir, stats),
        description=f"Funnel and reasons of {ctx.run_dir.name}",
    )
    publish_run_link(ctx.run_dir.name)  # to its dashboard page, when THRESHER_DASHBOARD_URL is set
    return {"run_dir": str(ctx.run_dir), "run_id": ctx.run_dir.name, "funnel": rows, "stats": stats}


def curate_collection(config: RunConfig, plan) -> dict:
    """The run as batches of the collection `config.collection`: an unfinished batch first,
    then one with the input files no batch took; each committed to the collection's indexes
    when all its stages succeeded (see pipelines.collection)."""
    out = prepare_out(config)
    name = config.collection
    root = collection_dir(out, name)
    with runlock.hold(root, what=f"collection {name}"):  # one batch of a collection at a time
        coll = Collection(out, name)
        settings = collection.dedup_settings(config, plan)
        coll.check_settings(settings, config.partitions)
        listed = io.list_inputs(config.inputs)
        batches = coll.plan(listed)
        summaries = []
        for batch, inputs in batches:
            partitions = (
                coll.state["partitions"]
                if coll.exists
                else config.partitions or default_partitions(sum(s or 0 for _, s, _ in inputs))
            )
            coll.begin(batch, inputs, settings, partitions)
            ctx = StageContext(
                run_dir=out / "runs" / batch_run_id(name, batch),
                beam_args=list(config.beam_args),
                partitions=partitions,
                inputs=inputs,
                collection=coll.view(batch),
            )
            with runlock.hold(ctx.run_dir):
                stats = _run_locked(ctx, config, plan)
            coll.commit(
                batch,
                ctx.run_dir,
                collection.dedup_survivors(ctx.run_dir, plan),
                collection.near_removed(ctx.run_dir, plan),
                collection.batch_summary(stats),
            )
            summaries.append({**publish_report(ctx, stats), "batch": batch})
    return {
        "collection": name,
        "batches": summaries,
        "listed_files": len(listed),
        "collection_dir": str(root),
    }
