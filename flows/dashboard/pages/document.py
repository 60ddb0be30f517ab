"""Document: one document by id, with what each stage of its run did to it."""

from __future__ import annotations

import json

MAX_TEXT = 100_000


def context(store, run, params) -> dict:
    doc_id = (params.get("id") or "").strip()
    if not doc_id:
        return {"doc_id": "", "doc": None, "timeline": []}
    rid = run.run_id
    doc = store.one(
        f"SELECT id, source, left(text, {MAX_TEXT}) AS text, n_chars, file, line, metadata "
        "FROM documents_all WHERE run_id = ? AND stage = 'ingest' AND id = ?",
        [rid, doc_id],
    )
    rejects = store.rows(
        "SELECT stage, reason, file, line, detail, raw FROM rejects "
        "WHERE run_id = ? AND id = ? ORDER BY stage, file, line LIMIT 20",
        [rid, doc_id],
    )
    in_stage = {
        r["stage"]
        for r in store.rows(
            "SELECT DISTINCT stage FROM documents_all WHERE run_id = ? AND id = ?", [rid, doc_id]
        )
    }
    exact = store.one(
        "SELECT kept_id FROM exact_duplicates WHERE run_id = ? AND id = ?", [rid, doc_id]
    )
    exact_copies = store.one(
        "SELECT count(*) AS n FROM exact_duplicates WHERE run_id = ? AND kept_id = ?",
        [rid, doc_id],
    )["n"]
    near = store.one(
        "SELECT cluster_id, kept, similarity_to_keeper, "
        "(SELECT count(*) FROM clusters c WHERE c.run_id = ? AND c.cluster_id = k.cluster_id) AS size "
        "FROM clusters k WHERE run_id = ? AND id = ?",
        [rid, rid, doc_id],
    )
    scores = store.rows(
        "SELECT scorer, score FROM scores WHERE run_id = ? AND id = ? ORDER BY scorer",
        [rid, doc_id],
    )
    selected = store.one("SELECT 1 AS yes FROM selected WHERE run_id = ? AND id = ?", [rid, doc_id])
    shard_sets = store.rows(
        "SELECT name, count(*) AS shards FROM shards WHERE run_id = ? AND source = ? GROUP BY name",
        [rid, doc["source"] if doc else None],
    )
    facts = {
        "doc": doc,
        "rejects": rejects,
        "in_stage": in_stage,
        "exact": exact,
        "exact_copies": exact_copies,
        "near": near,
        "scores": scores,
        "selected": selected is not None,
        "shard_sets": shard_sets,
    }
    return {
        "doc_id": doc_id,
        "doc": doc,
        "metadata": _pretty(doc["metadata"]) if doc else None,
        "text_cut": bool(doc and doc["n_chars"] > MAX_TEXT),
        "rejects": rejects,
        "timeline": timeline(run, facts),
    }


def timeline(run, facts: dict) -> list[tuple]:
    """(stage, outcome, detail, linked id) per stage; after a removal, "not reached"."""
    rows, gone = [], False
    for s in run.stages:
        if gone:
            rows.append((s["stage"], "not reached", "", None))
            continue
        outcome, detail, link = verdict(s, facts, run)
        rows.append((s["stage"], outcome, detail, link))
        gone = outcome in ("removed", "rejected", "not found")
    return rows


def verdict(stats: dict, f: dict, run) -> tuple[str, str, str | None]:
    """(outcome, detail, the id to link to) for one stage."""
    stage = stats["stage"]
    if stage == "ingest":
        if f["doc"]:
            return "kept", f"{f['doc']['file']} line {f['doc']['line']}", None
        if f["rejects"]:
            r = f["rejects"][0]
            return "rejected", f"{r['reason']}: {r['detail']}", None
        return "not found", "no document or reject with this id", None
    if f["doc"] is None:
        return "", "", None
    if stage == "exact_dedup":
        if f["exact"]:
            return "removed", "exact duplicate of", f["exact"]["kept_id"]
        extra = f", keeper of {f['exact_copies']} exact duplicate(s)" if f["exact_copies"] else ""
        return "kept", extra.lstrip(", "), None
    if stage == "near_dedup":
        n = f["near"]
        if n and not n["kept"]:
            return (
                "removed",
                f"near duplicate (similarity {n['similarity_to_keeper']:.3f}) of",
                n["cluster_id"],
            )
        if n:
            return "kept", f"keeper of a cluster of {n['size']}", None
        return ("kept", "", None) if "near_dedup" in f["in_stage"] else ("not reached", "", None)
    if stage == "score":
        shown = ", ".join(f"{s['scorer']} {s['score']:.4f}" for s in f["scores"]) or "no score"
        return ("selected" if f["selected"] else "not selected"), shown, None
    if stage == "shards":
        if not f["selected"] and run.stats("score"):
            return "not sharded", "not selected", None
        sets = ", ".join(
            f"{s['name']} ({s['shards']} shard(s) of source {f['doc']['source']})"
            for s in f["shard_sets"]
        )
        return "sharded", sets or "no shard of its source", None
    if stage in f["in_stage"]:
        return "kept", f"in {stage}'s output", None
    return "", "", None


def _pretty(metadata: str | None) -> str:
    if not metadata:
        return ""
    try:
        return json.dumps(json.loads(metadata), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return metadata
