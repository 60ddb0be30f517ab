"""DuckDB over every run's outputs: one view per table, read-only queries.

Views (each has a `run_id` column):
  documents   the documents that survived the run's last stage (run.json: final_documents)
  documents_all  every document table a stage wrote (ingest, near dedup), with `stage`
  rejects     records that could not be processed, with stage, reason, file, line, raw
  duplicates  removed id -> kept id, with `kind` (exact, near) and similarity
  clusters    near-dedup clusters: id, cluster_id (= keeper id), kept, similarity_to_keeper
  shards      one row per Megatron shard: name (shard set), shard, source, documents,
              tokens, dtype, bin_bytes, sha256 (from shards/<name>/manifest.parquet)
  scores      quality scores: run_id, scorer, id, score (join documents on id)
  selected    documents kept by the score stage's selection rule
  mixtures    inferred mixtures: mixture, tokenizer, category, proportion (share of training
              bytes), sample_bytes, merges_used, objective, truth (experiments); run_id null
  stage_stats one row per stage per run: docs_in, kept, dropped, dropped_by_reason (JSON), rejected, seconds
  runs        one row per run: status, timings, config (JSON)
Stages add views by appending to `VIEWS`.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
from thresher.pipelines import io, schemas
from thresher.pipelines.docsets import DocSet
from thresher.scorers.errors import InputError, UserError

_RUN_ID = "regexp_extract(filename, '/runs/([^/]+)/', 1)"


def _parquet(root: Path, pattern: str) -> str | None:
    """`read_parquet(...)` over a glob under every run, or None when no file matches."""
    glob = str(root / "runs" / "*" / pattern)
    if not any(root.glob(f"runs/*/{pattern}")):
        return None
    return (
        f"read_parquet('{glob}', hive_partitioning=true, union_by_name=true, filename=true)"
    )


def _empty(schema: pa.Schema, extra: dict[str, str]) -> str:
    """A typed, empty SELECT so queries work before any run has produced a table."""
    types = {
        pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.int64(): "BIGINT",
        pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.int32(): "INTEGER",
    }
    cols = [f"NULL::{types[f.type]} AS {f.name}" for f in schema]
    cols += [f"NULL::{t} AS {name}" for name, t in extra.items()]
    return f"SELECT {', '.join(cols)} WHERE false"


def _documents_all(root: Path) -> str:
    src = _parquet(root, "documents/*/part-*.parquet")
    if src is None:
        return _empty(schemas.DOCUMENTS, {"stage": "VARCHAR", "run_id": "VARCHAR"})
    return f"SELECT * EXCLUDE (filename), {_RUN_ID} AS run_id FROM {src}"


def _rejects(root: Path) -> str:
    src = _parquet(root, "rejects/*/part-*.parquet")
    if src is None:
        return _empty(schemas.REJECTS, {"stage": "VARCHAR", "run_id": "VARCHAR"})
    return f"SELECT * EXCLUDE (filename), {_RUN_ID} AS run_id FROM {src}"


def _exact_duplicates(root: Path) -> str:
    src = _parquet(root, "dedup/exact/part-*.parquet")
    if src is None:
        return _empty(schemas.EXACT_DUPLICATES, {"run_id": "VARCHAR"})
    return f"SELECT id, kept_id, text_hash, {_RUN_ID} AS run_id FROM {src}"


def _clusters(root: Path) -> str:
    src = _parquet(root, "dedup/clusters.parquet")
    if src is None:
        return _empty(schemas.NEAR_CLUSTERS, {"run_id": "VARCHAR"})
    return (
        f"SELECT id, cluster_id, kept, similarity_to_keeper, {_RUN_ID} AS run_id FROM {src}"
    )


def _duplicates(root: Path) -> str:
    return (
        "SELECT run_id, id, kept_id, 'exact' AS kind, 1.0::DOUBLE AS similarity "
        "FROM exact_duplicates UNION ALL "
        "SELECT run_id, id, cluster_id AS kept_id, 'near' AS kind, similarity_to_keeper "
        "FROM clusters WHERE NOT kept"
    )


def _documents(root: Path) -> str:
    """Each run's surviving documents: the document set its run.json names as final
    (a documents directory, minus the ids in any removal tables; see pipelines.docsets)."""
    selects = []
    for path in sorted(root.glob("runs/*/run.json")):
        final = io.read_json(path).get("final_documents")
        if not final:
            continue
        docs = DocSet.parse(final)
        parts = _read(path.parent / docs.parts)
        if parts is None:
            continue
        run_id = path.parent.name.replace("'", "''")
        select = f"SELECT *, '{run_id}' AS run_id FROM {parts}"
        removed = [r for d in docs.minus if (r := _read(path.parent / d)) is not None]
        if removed:
            union = " UNION ALL ".join(f"SELECT id FROM {r}" for r in removed)
            select = f"SELECT * FROM ({select}) AS d ANTI JOIN ({union}) AS r USING (id)"
        selects.append(select)
    if not selects:
        return _empty(schemas.DOCUMENTS, {"run_id": "VARCHAR"})
    return " UNION ALL BY NAME ".join(selects)


def _read(directory: Path) -> str | None:
    """`read_parquet(...)` over one directory's parts, or None when it has none."""
    if not any(directory.glob("part-*.parquet")):
        return None
    glob = str(directory / "part-*.parquet").replace("'", "''")
    return f"read_parquet('{glob}', union_by_name=true)"


def _shards(root: Path) -> str:
    src = _parquet(root, "shards/*/manifest.parquet")
    if src is None:
        return _empty(schemas.SHARDS_MANIFEST, {"name": "VARCHAR", "run_id": "VARCHAR"})
    name = "regexp_extract(filename, '/shards/([^/]+)/manifest.parquet', 1)"
    return f"SELECT * EXCLUDE (filename), {name} AS name, {_RUN_ID} AS run_id FROM {src}"


def _scores(root: Path) -> str:
    src = _parquet(root, "scores/*/part-*.parquet")
    if src is None:
        return _empty(schemas.SCORES, {"run_id": "VARCHAR", "scorer": "VARCHAR"})
    scorer = "regexp_extract(filename, '/scores/([^/]+)/', 1)"
    return f"SELECT {_RUN_ID} AS run_id, {scorer} AS scorer, id, score FROM {src}"


def _selected(root: Path) -> str:
    src = _parquet(root, "selected/part-*.parquet")
    if src is None:
        return _empty(schemas.DOCUMENTS, {"run_id": "VARCHAR"})
    return f"SELECT * EXCLUDE (filename), {_RUN_ID} AS run_id FROM {src}"


def _mixtures(root: Path) -> str:
    """`thresher mixture infer/experiment` results: <root>/mixtures/<name>/mixture.parquet
    (and <root>/mixture.parquet when root is itself a mixture directory); not in runs."""
    globs = [g for g in ("mixtures/*/mixture.parquet", "mixture.parquet") if any(root.glob(g))]
    if not globs:
        return _empty(schemas.MIXTURE, {"run_id": "VARCHAR"})
    files = ", ".join(f"'{root / g}'" for g in globs)
    return (f"SELECT *, NULL::VARCHAR AS run_id FROM read_parquet([{files}], "
            "union_by_name=true)")


# name -> SQL builder, in dependency order. Later stages append their own.
VIEWS = {
    "documents_all": _documents_all,
    "rejects": _rejects,
    "exact_duplicates": _exact_duplicates,
    "clusters": _clusters,
    "duplicates": _duplicates,
    "documents": _documents,
    "shards": _shards,
    "scores": _scores,
    "selected": _selected,
    "mixtures": _mixtures,
}


def _runs_table(root: Path) -> pa.Table:
    rows = []
    for path in sorted(root.glob("runs/*/run.json")):
        r = io.read_json(path)
        rows.append(
            {
                "run_id": r.get("run_id", path.parent.name),
                "status": r.get("status"),
                "started_at": r.get("started_at"),
                "finished_at": r.get("finished_at"),
                "seconds": r.get("seconds"),
                "attempts": r.get("attempts"),
                "final_documents": r.get("final_documents"),
                "config": json.dumps(r.get("config"), sort_keys=True),
                "versions": json.dumps(r.get("versions"), sort_keys=True),
            }
        )
    schema = pa.schema(
        [("run_id", pa.string()), ("status", pa.string()), ("started_at", pa.string()),
         ("finished_at", pa.string()), ("seconds", pa.float64()), ("attempts", pa.int64()),
         ("final_documents", pa.string()), ("config", pa.string()), ("versions", pa.string())]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _stats_table(root: Path) -> pa.Table:
    rows = []
    for path in sorted(root.glob("runs/*/stats/*.json")):
        s = io.read_json(path)
        rows.append(
            {
                "run_id": path.parent.parent.name,
                "stage": s.get("stage", path.stem),
                "docs_in": s.get("in"),  # `in` is an SQL keyword
                "kept": s.get("kept"),
                "dropped": sum((s.get("dropped") or {}).values()),
                "dropped_by_reason": json.dumps(s.get("dropped") or {}, sort_keys=True),
                "rejected": s.get("rejected"),
                "seconds": float(s.get("seconds") or 0),
                "finished_at": s.get("finished_at"),
                "stats": json.dumps(s, sort_keys=True),
            }
        )
    schema = pa.schema(
        [("run_id", pa.string()), ("stage", pa.string()), ("docs_in", pa.int64()),
         ("kept", pa.int64()), ("dropped", pa.int64()), ("dropped_by_reason", pa.string()),
         ("rejected", pa.int64()), ("seconds", pa.float64()), ("finished_at", pa.string()),
         ("stats", pa.string())]
    )
    return pa.Table.from_pylist(rows, schema=schema)


# Small JSON-backed tables, loaded into memory (name -> builder). Stages may append.
TABLES = {"runs": _runs_table, "stage_stats": _stats_table}


def connect(out: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every view defined over `<out>/runs/*`."""
    root = Path(out).resolve()
    if not root.is_dir():
        raise InputError(f"output directory {out} does not exist: run `thresher run` first or pass --out")
    con = duckdb.connect(":memory:")
    for name, build in TABLES.items():
        con.register(f"_{name}_arrow", build(root))
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "_{name}_arrow"')
    for name, build in VIEWS.items():
        con.execute(f'CREATE VIEW "{name}" AS {build(root)}')
    return con


READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def query(out: str | Path, sql: str) -> pa.Table:
    """Run one read-only statement over the catalog; returns an Arrow table."""
    con = connect(out)
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise UserError(f"SQL error: {_one_line(exc)}") from None
    if len(statements) != 1 or statements[0].type not in READ_ONLY:
        raise UserError(
            "thresher query runs one read-only statement (SELECT, WITH ... SELECT, EXPLAIN); "
            "outputs are written only by pipelines"
        )
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise UserError(f"SQL error: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
