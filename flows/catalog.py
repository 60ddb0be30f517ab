"""DuckDB over every run's outputs: one view per table, read-only queries.

Views (each has a `run_id` column):
  documents   the documents that survived the run's last stage (run.json: final_documents),
              with `language` from the run's language ID stage (NULL when it did not run)
  documents_all  every document table a stage wrote (ingest, near dedup), with `stage`
  rejects     records that could not be processed, with stage, reason, file, line, raw
  duplicates  removed id -> kept id, with `kind` (exact, near) and similarity
  clusters    near-dedup clusters: id, cluster_id (= keeper id), kept, similarity_to_keeper
  shards      one row per Megatron shard: name (shard set), shard, group, source, language,
              documents, tokens, dtype, bin_bytes, sha256 (from shards/<name>/manifest.parquet)
  scores      quality scores: run_id, scorer, id, score (join documents on id)
  selected    documents kept by the score stage's selection rule
  mixtures    inferred mixtures: mixture, tokenizer, category, proportion (share of training
              bytes), sample_bytes, merges_used, objective, truth (experiments); run_id null
  stage_stats one row per stage per run: docs_in, kept, dropped, dropped_by_reason (JSON), rejected, seconds
  runs        one row per run: status, timings, config (JSON), collection and batch (if any)
  collections one row per batch of each collection: state (committed / pending), files,
              docs_in, dedup_kept, final_kept, tokens, cumulative_kept, cumulative_tokens
  attributes_language_id, attributes_quality_filters  per-document measures (id + one
              column per measure); filtered: id, reason, stage of every document they dropped
Stages add views by adding to `FILE_VIEWS` (one kind of Parquet file) or `VIEWS`.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from thresher.pipelines import io, schemas
from thresher.pipelines.attributes import FILTERED, LANGUAGE_ATTRIBUTES
from thresher.pipelines.docsets import DocSet
from thresher.scorers.errors import InputError, UserError

_RUN_ID = "regexp_extract(filename, '/runs/([^/]+)/', 1)"
_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.int32(): "INTEGER",
}


def sql_string(value) -> str:
    """A SQL string literal (the one quoting rule for paths and ids in view definitions)."""
    return "'" + str(value).replace("'", "''") + "'"


def empty_view(schema: pa.Schema, extra: dict) -> str:
    """A typed, empty SELECT, so queries work before any run has produced a table."""
    cols = [f"NULL::{_DUCKDB_TYPES[f.type]} AS {f.name}" for f in schema]
    cols += [f"NULL::{t} AS {name}" for name, t in extra.items()]
    return f"SELECT {', '.join(cols)} WHERE false"


@dataclass(frozen=True)
class FileView:
    """A view over one kind of Parquet file in every run: `glob` under `runs/<run_id>/`,
    `columns` selected from it, and `extra` columns (name -> SQL type) that come from the
    file's path; with no file yet, a typed empty view of `schema` + `extra`."""

    glob: str
    schema: pa.Schema
    columns: str = "* EXCLUDE (filename)"
    extra: dict = field(default_factory=dict)
    derived: dict = field(default_factory=dict)  # name -> SQL over `filename`

    def sql(self, root: Path) -> str:
        if not any(root.glob(f"runs/*/{self.glob}")):
            return empty_view(self.schema, {**self.extra, "run_id": "VARCHAR"})
        derived = "".join(
            f", {sql} AS {name}" for name, sql in {**self.derived, "run_id": _RUN_ID}.items()
        )
        source = (
            f"read_parquet({sql_string(root / 'runs' / '*' / self.glob)}, "
            "hive_partitioning=true, union_by_name=true, filename=true)"
        )
        return f"SELECT {self.columns}{derived} FROM {source}"


# name -> view over Parquet files in every run; stages add theirs here.
FILE_VIEWS = {
    "documents_all": FileView(
        "documents/*/part-*.parquet", schemas.DOCUMENTS, extra={"stage": "VARCHAR"}
    ),
    "rejects": FileView("rejects/*/part-*.parquet", schemas.REJECTS, extra={"stage": "VARCHAR"}),
    "exact_duplicates": FileView(
        "dedup/exact/part-*.parquet", schemas.EXACT_DUPLICATES, columns="id, kept_id, text_hash"
    ),
    "clusters": FileView(
        "dedup/clusters.parquet",
        schemas.NEAR_CLUSTERS,
        columns="id, cluster_id, kept, similarity_to_keeper",
    ),
    "shards": FileView(
        "shards/*/manifest.parquet",
        schemas.SHARDS_MANIFEST,
        extra={"name": "VARCHAR"},
        derived={"name": "regexp_extract(filename, '/shards/([^/]+)/manifest.parquet', 1)"},
    ),
    "scores": FileView(
        "scores/*/part-*.parquet",
        schemas.SCORES,
        columns="id, score",
        extra={"scorer": "VARCHAR"},
        derived={"scorer": "regexp_extract(filename, '/scores/([^/]+)/', 1)"},
    ),
    "selected": FileView("selected/part-*.parquet", schemas.DOCUMENTS),
}


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
        record = io.read_json(path)
        final = record.get("final_documents")
        if not final:
            continue
        docs = DocSet.parse(final)
        parts = _read(path.parent / docs.parts)
        if parts is None:
            continue
        select = f"SELECT *, {sql_string(path.parent.name)} AS run_id FROM {parts}"
        removed = [r for d in docs.minus if (r := _read(path.parent / d)) is not None]
        if removed:
            union = " UNION ALL ".join(f"SELECT id FROM {r}" for r in removed)
            select = f"SELECT * FROM ({select}) AS d ANTI JOIN ({union}) AS r USING (id)"
        selects.append(_with_language(select, path.parent, record))
    if not selects:
        return empty_view(schemas.DOCUMENTS, {"language": "VARCHAR", "run_id": "VARCHAR"})
    return " UNION ALL BY NAME ".join(selects)


def _with_language(select: str, run_dir: Path, record: dict) -> str:
    """`select` plus a `language` column: what the run's language ID stage found for each
    document (joined on id), or NULL when the run has no language ID stage."""
    ran = (record.get("config") or {}).get("language_id") is not None
    langs = _read(run_dir / LANGUAGE_ATTRIBUTES) if ran else None
    if langs is None:
        return f"SELECT *, NULL::VARCHAR AS language FROM ({select}) AS d"
    return (
        f"SELECT d.*, l.language FROM ({select}) AS d "
        f"LEFT JOIN (SELECT id, language FROM {langs}) AS l USING (id)"
    )


def _read(directory: Path) -> str | None:
    """`read_parquet(...)` over one directory's parts, or None when it has none."""
    if not any(directory.glob("part-*.parquet")):
        return None
    return f"read_parquet({sql_string(directory / 'part-*.parquet')}, union_by_name=true)"


def _mixtures(root: Path) -> str:
    """`thresher mixture infer/experiment` results: <root>/mixtures/<name>/mixture.parquet
    (and <root>/mixture.parquet when root is itself a mixture directory); not in runs."""
    globs = [g for g in ("mixtures/*/mixture.parquet", "mixture.parquet") if any(root.glob(g))]
    if not globs:
        return empty_view(schemas.MIXTURE, {"run_id": "VARCHAR"})
    files = ", ".join(sql_string(root / g) for g in globs)
    return f"SELECT *, NULL::VARCHAR AS run_id FROM read_parquet([{files}], union_by_name=true)"


# name -> SQL builder for the views that are not one kind of file, in dependency order
# (they run after FILE_VIEWS). Later stages append their own.
VIEWS = {
    "duplicates": _duplicates,
    "documents": _documents,
    "mixtures": _mixtures,
}


def _attributes(stage: str):
    """`attributes_<stage>`: the per-document measures a measure-then-decide stage wrote
    (pipelines.attributes), one column per measure; re-threshold them with plain SQL."""

    def build(root: Path) -> str:
        glob = f"attributes/{stage}/part-*.parquet"
        if not any(root.glob(f"runs/*/{glob}")):
            return empty_view(pa.schema([("id", pa.string())]), {"run_id": "VARCHAR"})
        files = sql_string(root / "runs" / "*" / glob)
        return (
            f"SELECT * EXCLUDE (filename), {_RUN_ID} AS run_id "
            f"FROM read_parquet({files}, union_by_name=true, filename=true)"
        )

    return build


VIEWS.update({f"attributes_{s}": _attributes(s) for s in ("language_id", "quality_filters")})
FILE_VIEWS["filtered"] = FileView(
    "filtered/*/part-*.parquet",
    FILTERED,
    columns="id, reason",
    extra={"stage": "VARCHAR"},
    derived={"stage": "regexp_extract(filename, '/filtered/([^/]+)/', 1)"},
)


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
                "collection": r.get("collection"),
                "batch": r.get("batch"),
                "config": json.dumps(r.get("config"), sort_keys=True),
                "versions": json.dumps(r.get("versions"), sort_keys=True),
            }
        )
    schema = pa.schema(
        [
            ("run_id", pa.string()),
            ("status", pa.string()),
            ("started_at", pa.string()),
            ("finished_at", pa.string()),
            ("seconds", pa.float64()),
            ("attempts", pa.int64()),
            ("final_documents", pa.string()),
            ("collection", pa.string()),
            ("batch", pa.int64()),
            ("config", pa.string()),
            ("versions", pa.string()),
        ]
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
        [
            ("run_id", pa.string()),
            ("stage", pa.string()),
            ("docs_in", pa.int64()),
            ("kept", pa.int64()),
            ("dropped", pa.int64()),
            ("dropped_by_reason", pa.string()),
            ("rejected", pa.int64()),
            ("seconds", pa.float64()),
            ("finished_at", pa.string()),
            ("stats", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _collections_table(root: Path) -> pa.Table:
    """One row per batch of every collection (its collection.json), with running totals."""
    rows = []
    for path in sorted(root.glob("collections/*/collection.json")):
        state = io.read_json(path)
        kept = tokens = 0
        batches = [{**b, "state": "committed"} for b in state.get("batches", [])]
        if state.get("pending"):
            batches.append({**state["pending"], "state": "pending"})
        for b in batches:
            kept += b.get("final_kept") or 0
            tokens += b.get("tokens") or 0
            rows.append(
                {
                    "collection": state.get("name", path.parent.name),
                    "batch": b["batch"],
                    "run_id": b.get("run_id"),
                    "state": b["state"],
                    "files": len(b.get("inputs") or []),
                    "input_bytes": sum(f[1] or 0 for f in b.get("inputs") or []),
                    "started_at": b.get("started_at"),
                    "committed_at": b.get("committed_at"),
                    "docs_in": b.get("docs_in"),
                    "dedup_kept": b.get("dedup_kept"),
                    "final_kept": b.get("final_kept"),
                    "tokens": b.get("tokens"),
                    "cumulative_kept": kept if b["state"] == "committed" else None,
                    "cumulative_tokens": tokens if b["state"] == "committed" else None,
                }
            )
    schema = pa.schema(
        [
            ("collection", pa.string()),
            ("batch", pa.int64()),
            ("run_id", pa.string()),
            ("state", pa.string()),
            ("files", pa.int64()),
            ("input_bytes", pa.int64()),
            ("started_at", pa.string()),
            ("committed_at", pa.string()),
            ("docs_in", pa.int64()),
            ("dedup_kept", pa.int64()),
            ("final_kept", pa.int64()),
            ("tokens", pa.int64()),
            ("cumulative_kept", pa.int64()),
            ("cumulative_tokens", pa.int64()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


# Small JSON-backed tables, loaded into memory (name -> builder). Stages may append.
TABLES = {"runs": _runs_table, "stage_stats": _stats_table, "collections": _collections_table}


def connect(out: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every view defined over `<out>/runs/*`, locked down: it can
    read files under `out` (and spill to its own temporary directory) and nothing else, can
    neither install nor load extensions, and its settings cannot be changed."""
    root = Path(out).resolve()
    if not root.is_dir():
        raise InputError(
            f"output directory {out} does not exist: run `thresher run` first or pass --out"
        )
    con = duckdb.connect(":memory:")
    for name, build in TABLES.items():
        con.register(f"_{name}_arrow", build(root))
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "_{name}_arrow"')
    try:  # DuckDB reads the files' footers here, to learn the views' columns
        for name, view in FILE_VIEWS.items():
            con.execute(f'CREATE VIEW "{name}" AS {view.sql(root)}')
        for name, build in VIEWS.items():
            con.execute(f'CREATE VIEW "{name}" AS {build(root)}')
    except duckdb.Error as exc:
        message = _one_line(exc).split(" LINE 1:")[0]
        raise InputError(
            f"cannot read the outputs under {out} ({message}): find the damaged run with "
            "`thresher verify <out>/runs/<run_id>`; rerunning it redoes the damaged stage"
        ) from None
    _lock_down(con, root)
    return con


def _lock_down(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    # DuckDB has no read-only path setting: a write under `root` is stopped by query()'s
    # statement check; these settings make sure nothing outside it can be touched even if
    # a statement slips past that check (e.g. EXPLAIN ANALYZE runs its statement).
    spill = tempfile.mkdtemp(prefix="thresher-duckdb-")
    weakref.finalize(con, shutil.rmtree, spill, ignore_errors=True)
    for setting in (
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET allow_community_extensions = false",
        f"SET temp_directory = {sql_string(spill)}",
        f"SET allowed_directories = [{sql_string(str(root) + '/')}, {sql_string(spill + '/')}]",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ):
        con.execute(setting)


_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)


def read_only(con: duckdb.DuckDBPyConnection, sql: str) -> bool:
    """One SELECT, or an EXPLAIN of one, by DuckDB's own parser (EXPLAIN ANALYZE executes
    the statement it explains, so the explained statement must be a SELECT too)."""
    statements = con.extract_statements(sql)
    if len(statements) != 1:
        return False
    statement = statements[0]
    if statement.type == duckdb.StatementType.SELECT:
        return True
    if statement.type != duckdb.StatementType.EXPLAIN:
        return False
    inner = _EXPLAIN.sub("", statement.query, count=1)
    if inner == statement.query:
        return False  # an EXPLAIN form we do not know how to look inside: refuse it
    explained = con.extract_statements(inner)
    return len(explained) == 1 and explained[0].type == duckdb.StatementType.SELECT


def query(out: str | Path, sql: str) -> pa.Table:
    """Run one read-only statement over the catalog; returns an Arrow table."""
    con = connect(out)
    try:
        allowed = read_only(con, sql)
    except duckdb.Error as exc:
        raise UserError(f"SQL error: {_one_line(exc)}") from None
    if not allowed:
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
