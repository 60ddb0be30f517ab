"""Rejects and drops: counts by stage and reason, and paged samples of each reason.

Rejected records come from the `rejects` view (with file, line and the raw record).
Dropped documents have no table of their own; a sample is found where each reason's
decision is recorded: the exact-dedup map, the near-dedup clusters, or the scores that
did not make the selection.
"""

from __future__ import annotations

from thresher.flows.dashboard.pages.common import Paging, documents_by_id, page_of

# reason -> (SQL listing the dropped ids of one run, ordered; its extra columns)
DROP_SAMPLES = {
    "exact_duplicate": (
        "SELECT id, kept_id AS keeper FROM exact_duplicates WHERE run_id = ? ORDER BY id",
        ["keeper"],
    ),
    "near_duplicate": (
        "SELECT id, cluster_id AS keeper, similarity_to_keeper AS similarity FROM clusters "
        "WHERE run_id = ? AND NOT kept ORDER BY cluster_id, id",
        ["keeper", "similarity"],
    ),
    # closest to the cut first: the ones a reader wants to check
    "below_quality_threshold": (
        "SELECT s.id, s.score FROM scores s WHERE s.run_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM selected k WHERE k.run_id = s.run_id AND k.id = s.id) "
        "ORDER BY s.score DESC, s.id",
        ["score"],
    ),
}


def counts(store, run) -> list[dict]:
    """One row per (stage, kind, reason): rejects counted in the rejects table, drops
    from the stage's stats."""
    rows = [
        {**r, "kind": "rejected"}
        for r in store.rows(
            "SELECT stage, reason, count(*) AS n FROM rejects WHERE run_id = ? "
            "GROUP BY ALL ORDER BY stage, n DESC, reason",
            [run.run_id],
        )
    ]
    for s in run.stages:
        for reason, n in sorted((s.get("dropped") or {}).items()):
            if n:
                rows.append({"stage": s["stage"], "reason": reason, "n": n, "kind": "dropped"})
    order = {name: i for i, name in enumerate(run.stage_names)}
    return sorted(rows, key=lambda r: (order.get(r["stage"], 99), r["kind"], -r["n"]))


def context(store, run, params) -> dict:
    rows = counts(store, run)
    chosen = next(
        (
            r
            for r in rows
            if r["stage"] == params.get("stage")
            and r["reason"] == params.get("reason")
            and r["kind"] == params.get("kind", r["kind"])
        ),
        rows[0] if rows else None,
    )
    paging = Paging.from_params(params)
    samples, more, columns, note = [], False, [], None
    if chosen and chosen["kind"] == "rejected":
        samples, more = page_of(
            store,
            "SELECT file, line, id, detail, raw FROM rejects "
            "WHERE run_id = ? AND stage = ? AND reason = ? ORDER BY file, line, id",
            [run.run_id, chosen["stage"], chosen["reason"]],
            paging,
        )
    elif chosen and chosen["reason"] in DROP_SAMPLES:
        sql, columns = DROP_SAMPLES[chosen["reason"]]
        samples, more = page_of(store, sql, [run.run_id], paging)
        docs = documents_by_id(store, run.run_id, [s["id"] for s in samples])
        samples = [{**s, **docs.get(s["id"], {})} for s in samples]
    elif chosen and store.has_view("filtered"):  # measure-then-decide stages' drops
        samples, more = page_of(
            store,
            "SELECT id FROM filtered WHERE run_id = ? AND stage = ? AND reason = ? ORDER BY id",
            [run.run_id, chosen["stage"], chosen["reason"]],
            paging,
        )
        docs = documents_by_id(store, run.run_id, [s["id"] for s in samples])
        samples = [{**s, **docs.get(s["id"], {})} for s in samples]
    if chosen and chosen["kind"] == "dropped" and not samples and paging.page == 0:
        note = (
            f"{chosen['stage']} keeps no per-document record of `{chosen['reason']}` "
            "decisions, so only the count is known."
        )
    return {
        "counts": rows,
        "chosen": chosen,
        "samples": samples,
        "sample_columns": columns,
        "paging": paging,
        "more": more,
        "note": note,
    }
