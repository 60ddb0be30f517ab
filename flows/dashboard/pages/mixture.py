"""Mixture: inferred proportions per tokenizer (`thresher mixture` results under --out),
and the target vs achieved token shares of this run's shards."""

from __future__ import annotations

from thresher.flows.dashboard import charts


def context(store, run, params) -> dict:
    inferred = store.rows(
        "SELECT mixture, tokenizer, category, proportion, truth FROM mixtures "
        "ORDER BY mixture, tokenizer, category"
    )
    inferred_chart = None
    if inferred:
        series: dict[str, tuple[list, list]] = {}
        for r in inferred:
            xs, ys = series.setdefault(f"{r['mixture']} / {r['tokenizer']}", ([], []))
            xs.append(r["category"])
            ys.append(r["proportion"])
        inferred_chart = charts.bars(
            series, "inferred proportions", "category", "share of training bytes", barmode="group"
        )
    shards = run.stats("shards") or {}
    achieved = shards.get("mixture") or []
    by_source = store.rows(
        "SELECT source, sum(tokens) AS tokens FROM shards WHERE run_id = ? "
        "GROUP BY source ORDER BY source",
        [run.run_id],
    )
    total = sum(r["tokens"] for r in by_source) or 1
    emitted = [{**r, "share": r["tokens"] / total} for r in by_source]
    target_chart = None
    if achieved:
        sources = [r["source"] for r in achieved]
        target_chart = charts.bars(
            {
                "target": (sources, [r["target_share"] for r in achieved]),
                "achieved": (sources, [r["achieved_share"] for r in achieved]),
            },
            "token shares of the shards: target vs achieved",
            "source",
            "share of tokens",
            barmode="group",
        )
    elif emitted:
        target_chart = charts.bars(
            {"emitted": ([r["source"] for r in emitted], [r["share"] for r in emitted])},
            "token shares of the shards (no target mixture configured)",
            "source",
            "share of tokens",
        )
    return {
        "inferred": inferred,
        "inferred_chart": inferred_chart,
        "achieved": achieved,
        "emitted": emitted,
        "target_chart": target_chart,
        "has_shards": bool(shards),
    }
