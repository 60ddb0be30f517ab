"""Shards: tokens and documents per source and per shard, dtype, and whether the files on
disk are still the ones the shard stage published."""

from __future__ import annotations

from thresher.flows.dashboard import charts
from thresher.flows.dashboard.pages.common import Paging, page_of
from thresher.pipelines import outputs


def context(store, run, params) -> dict:
    stats = run.stats("shards")
    per_source = store.rows(
        "SELECT name, source, count(*) AS shards, sum(documents) AS documents, "
        "sum(tokens) AS tokens, any_value(dtype) AS dtype, sum(bin_bytes) AS bin_bytes "
        "FROM shards WHERE run_id = ? GROUP BY name, source ORDER BY name, source",
        [run.run_id],
    )
    if not per_source:
        return {"per_source": [], "stats": stats or {}}
    paging = Paging.from_params(params, size=50)
    shards, more = page_of(
        store,
        "SELECT name, shard, source, documents, tokens, dtype, bin_bytes FROM shards "
        "WHERE run_id = ? ORDER BY name, shard",
        [run.run_id],
        paging,
    )
    full = params.get("checksums") == "1"
    problems = _problems(run, stats, full)
    for s in shards:
        mine = [p for p in problems if p.startswith(f"shards/{s['name']}/{s['shard']}.")]
        s["problems"] = mine
    chart = charts.bars(
        {
            "tokens": (
                [f"{r['name']}/{r['source']}" for r in per_source],
                [r["tokens"] for r in per_source],
            )
        },
        "tokens per source",
        "shard set / source",
        "tokens",
    )
    return {
        "per_source": per_source,
        "shards": shards,
        "paging": paging,
        "more": more,
        "problems": problems,
        "checked_checksums": full,
        "tokens_chart": chart,
        "stats": stats or {},
    }


def _problems(run, stats: dict | None, full: bool) -> list[str]:
    """The shard stage's published files against its record: sizes and presence (cheap),
    and with `full` their xxh3 checksums (reads every shard file)."""
    if not stats:
        return ["no stats/shards.json: the shard stage has not finished"]
    run_dir = run.extras["run_dir"]
    return outputs.problems(run_dir, stats.get("published", []), stats.get("outputs"), full)
