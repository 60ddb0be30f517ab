"""Trends: the runs of one output directory side by side (oldest first): documents in and
kept, reject rate by reason, duplicate rate, score quantiles, tokens. A value that moves
by more than CHANGE (relative) from the median of the previous LOOKBACK runs is marked.

Everything comes from the stats files the stages write, so this page costs the same for
1k or 1B documents.
"""

from __future__ import annotations

import statistics

from thresher.flows.dashboard import charts

CHANGE = 0.25
LOOKBACK = 5
DUPLICATE_REASONS = ("exact_duplicate", "near_duplicate")


def metrics(run) -> dict[str, float | None]:
    ingest = run.stats("ingest") or {}
    docs_in = run.docs_in
    values: dict[str, float | None] = {
        "documents in": docs_in,
        "documents kept": run.docs_final,
        "tokens": run.tokens,
    }
    for reason, n in sorted((ingest.get("rejected_by_reason") or {}).items()):
        values[f"reject rate: {reason}"] = n / docs_in if docs_in else None
    dups = sum((s.get("dropped") or {}).get(r, 0) for s in run.stages for r in DUPLICATE_REASONS)
    values["duplicate rate"] = dups / docs_in if docs_in and run.stages else None
    summary = (run.stats("score") or {}).get("scores_summary") or {}
    for name, q in zip(("p10", "p50", "p90"), summary.get("score_p10_p50_p90") or (), strict=False):
        values[f"score {name}"] = q
    return values


def sudden_changes(values: list[float | None]) -> list[bool]:
    flags = []
    for i, v in enumerate(values):
        before = [x for x in values[max(0, i - LOOKBACK) : i] if x is not None]
        if v is None or not before:
            flags.append(False)
            continue
        median = statistics.median(before)
        scale = abs(median) or 1.0
        floor = 0.01 if abs(median) <= 1 else 1  # rates: at least one percentage point
        flags.append(abs(v - median) > max(CHANGE * scale, floor))
    return flags


def context(store, runs: list) -> dict:
    runs = sorted(runs, key=lambda r: (r.started_at, r.run_id))  # oldest first
    per_run = [metrics(r) for r in runs]
    names = list(dict.fromkeys(n for m in per_run for n in m))
    table = []
    for name in names:
        values = [m.get(name) for m in per_run]
        table.append(
            {"metric": name, "cells": list(zip(values, sudden_changes(values), strict=True))}
        )
    labels = [r.run_id for r in runs]
    flagged = {row["metric"] for row in table if any(f for _, f in row["cells"])}

    def chart(title: str, picked: list[str], y_title: str = "") -> str | None:
        series = {n: [m.get(n) for m in per_run] for n in picked if n in names}
        if not series:
            return None
        marks = {
            n: [labels[i] for i, (_, f) in enumerate(row["cells"]) if f]
            for row in table
            if (n := row["metric"]) in series
        }
        return charts.lines(labels, series, title, y_title, {n: p for n, p in marks.items() if p})

    rates = [n for n in names if n.startswith("reject rate") or n == "duplicate rate"]
    return {
        "runs": runs,
        "table": table,
        "flagged": sorted(flagged),
        "charts": [
            c
            for c in (
                chart("documents", ["documents in", "documents kept"], "documents"),
                chart("reject and duplicate rates", rates, "share of documents in"),
                chart("score quantiles", ["score p10", "score p50", "score p90"], "score"),
                chart("tokens in shards", ["tokens"], "tokens"),
            )
            if c
        ],
    }
