"""Run: the funnel (chart and table), per-stage seconds and throughput, config, versions,
the Prefect flow run."""

from __future__ import annotations

import json

from thresher.flows.dashboard import charts


def funnel_rows(run) -> list[dict]:
    rows = []
    for s in run.stages:
        dropped = s.get("dropped") or {}
        seconds = float(s.get("seconds") or 0)
        rows.append(
            {
                "stage": s["stage"],
                "in": s["in"],
                "kept": s["kept"],
                "dropped": sum(dropped.values()),
                "dropped_by_reason": {k: v for k, v in sorted(dropped.items()) if v},
                "rejected": s["rejected"],
                "rejected_by_reason": {
                    k: v for k, v in sorted((s.get("rejected_by_reason") or {}).items()) if v
                },
                "seconds": seconds,
                "docs_per_second": round(s["in"] / seconds) if seconds > 0 else None,
                "mb_per_second": (
                    round(s["bytes"] / 2**20 / seconds, 1)
                    if seconds > 0 and isinstance(s.get("bytes"), int)
                    else None
                ),
                "skipped": s.get("skipped", False),
            }
        )
    return rows


def context(store, run) -> dict:
    rows = funnel_rows(run)
    chart = None
    if rows:
        chart = charts.funnel(
            ["input", *[r["stage"] for r in rows]],
            [rows[0]["in"], *[r["kept"] for r in rows]],
            "documents after each stage",
        )
    return {
        "funnel": rows,
        "funnel_chart": chart,
        "config": json.dumps(run.record.get("config") or {}, indent=2, sort_keys=True),
        "versions": sorted((run.record.get("versions") or {}).items()),
        "refresh": 5 if run.status == "running" else None,
    }
