"""Scores: per-source score histograms with the selection cut, the kept share of
documents and characters per source, and the highest- and lowest-scored documents."""

from __future__ import annotations

from thresher.flows.dashboard import charts
from thresher.flows.dashboard.pages.common import documents_by_id

BINS = 50
EXAMPLES = 5


def context(store, run, params) -> dict:
    stats = run.stats("score")
    scorers = [
        r["scorer"]
        for r in store.rows(
            "SELECT DISTINCT scorer FROM scores WHERE run_id = ? ORDER BY scorer", [run.run_id]
        )
    ]
    if not scorers:
        return {"scorers": []}
    scorer = params.get("scorer") if params.get("scorer") in scorers else scorers[0]
    # One pass over scores joined to their documents' source and length: the histogram
    # bins, and (summed over bins) every source's input documents and characters.
    binned = store.rows(
        f"SELECT d.source, least(greatest(floor(s.score * {BINS}), 0), {BINS - 1})::INT AS bin, "
        "count(*) AS docs, sum(d.n_chars) AS chars FROM scores s JOIN documents_all d "
        "ON d.run_id = s.run_id AND d.stage = 'ingest' AND d.id = s.id "
        "WHERE s.run_id = ? AND s.scorer = ? GROUP BY ALL ORDER BY source, bin",
        [run.run_id, scorer],
    )
    kept = {
        r["source"]: r
        for r in store.rows(
            "SELECT source, count(*) AS docs, sum(n_chars) AS chars FROM selected "
            "WHERE run_id = ? GROUP BY source",
            [run.run_id],
        )
    }
    series: dict[str, tuple[list, list]] = {}
    totals: dict[str, dict] = {}
    for r in binned:
        xs, ys = series.setdefault(r["source"], ([], []))
        xs.append(r["bin"] / BINS)
        ys.append(r["docs"])
        t = totals.setdefault(r["source"], {"docs": 0, "chars": 0})
        t["docs"] += r["docs"]
        t["chars"] += r["chars"]
    selection = (stats or {}).get("selection") or {}
    cut = selection.get("threshold")
    shares = [
        {
            "source": source,
            "docs": t["docs"],
            "chars": t["chars"],
            "kept_docs": kept.get(source, {}).get("docs", 0),
            "kept_chars": kept.get(source, {}).get("chars", 0),
        }
        for source, t in sorted(totals.items())
    ]
    return {
        "scorers": scorers,
        "scorer": scorer,
        "selection": selection,
        "summary": (stats or {}).get("scores_summary"),
        "histogram": charts.histogram_with_cut(
            series, 1 / BINS, cut, f"{scorer}: scores per source (stacked)"
        ),
        "shares": shares,
        "highest": examples(store, run, scorer, "DESC"),
        "lowest": examples(store, run, scorer, "ASC"),
    }


def examples(store, run, scorer: str, direction: str) -> list[dict]:
    rows = store.rows(
        f"SELECT id, score FROM scores WHERE run_id = ? AND scorer = ? "
        f"ORDER BY score {direction}, id LIMIT {EXAMPLES}",
        [run.run_id, scorer],
    )
    docs = documents_by_id(store, run.run_id, [r["id"] for r in rows], chars=300)
    return [{**r, **docs.get(r["id"], {})} for r in rows]
