"""Duplicates: cluster-size histograms, a paged list of clusters, and one cluster with
its keeper beside each removed document (differing words highlighted)."""

from __future__ import annotations

from thresher.flows.dashboard import charts, textdiff
from thresher.flows.dashboard.pages.common import Paging, documents_by_id, page_of

COMPARE_CHARS = 20_000  # per document in the side-by-side view

# kind -> SQL of one run's clusters (keeper, size, lowest similarity to the keeper)
CLUSTERS = {
    "near": "SELECT cluster_id AS keeper, count(*) AS size, "
    "min(similarity_to_keeper) FILTER (WHERE NOT kept) AS similarity "
    "FROM clusters WHERE run_id = ? GROUP BY cluster_id",
    "exact": "SELECT kept_id AS keeper, count(*) + 1 AS size, 1.0 AS similarity "
    "FROM exact_duplicates WHERE run_id = ? GROUP BY kept_id",
}
MEMBERS = {
    "near": "SELECT id, similarity_to_keeper AS similarity FROM clusters "
    "WHERE run_id = ? AND cluster_id = ? AND NOT kept ORDER BY similarity_to_keeper, id",
    "exact": "SELECT id, 1.0 AS similarity FROM exact_duplicates "
    "WHERE run_id = ? AND kept_id = ? ORDER BY id",
}


def context(store, run, params) -> dict:
    kind = params.get("kind") if params.get("kind") in CLUSTERS else "near"
    histograms = {}
    for k, sql in CLUSTERS.items():
        sizes = store.rows(
            f"SELECT size, count(*) AS clusters FROM ({sql}) GROUP BY size ORDER BY size",
            [run.run_id],
        )
        histograms[k] = sizes
    chart = None
    if any(histograms.values()):
        chart = charts.bars(
            {
                f"{k} ({sum(r['clusters'] for r in rows):,} clusters)": (
                    [r["size"] for r in rows],
                    [r["clusters"] for r in rows],
                )
                for k, rows in histograms.items()
                if rows
            },
            "cluster sizes (documents per cluster, keeper included)",
            x_title="documents in cluster",
            y_title="clusters",
            barmode="group",
        )
    paging = Paging.from_params(params)
    clusters, more = page_of(
        store, f"{CLUSTERS[kind]} ORDER BY size DESC, keeper", [run.run_id], paging
    )
    return {
        "kind": kind,
        "histograms": histograms,
        "sizes_chart": chart,
        "clusters": clusters,
        "paging": paging,
        "more": more,
        "cluster": cluster(store, run, kind, params.get("keeper"), paging)
        if params.get("keeper")
        else None,
    }


def cluster(store, run, kind: str, keeper: str, paging: Paging) -> dict:
    members, more = page_of(store, MEMBERS[kind], [run.run_id, keeper], Paging(paging.page, 10))
    docs = documents_by_id(
        store, run.run_id, [keeper, *[m["id"] for m in members]], chars=COMPARE_CHARS
    )
    keeper_doc = docs.get(keeper)
    pairs = []
    for m in members:
        other = docs.get(m["id"])
        if keeper_doc is None or other is None:
            pairs.append({**m, "doc": other, "keeper_spans": None, "other_spans": None})
            continue
        left, right, cut = textdiff.side_by_side(keeper_doc["text"], other["text"])
        cut = cut or max(keeper_doc["n_chars"], other["n_chars"]) > COMPARE_CHARS
        pairs.append({**m, "doc": other, "keeper_spans": left, "other_spans": right, "cut": cut})
    return {"keeper": keeper, "keeper_doc": keeper_doc, "pairs": pairs, "more": more}
