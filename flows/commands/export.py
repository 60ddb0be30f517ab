"""`thresher export`: one run's final documents (the `documents` view) to a Parquet or JSONL file."""

from __future__ import annotations

import argparse

# Rows stream from DuckDB in batches of this many, so memory is one batch, not the run.
BATCH_ROWS = 10_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write one run's final documents to a Parquet or JSONL file",
        description="Write exactly the rows of the `documents` view for one run (the documents "
        "that survived its last stage; see `thresher query --help`), ordered by id, without the "
        "run_id column. The file appears atomically: written under a temporary name next to "
        "PATH, then renamed.",
    )
    p.add_argument("--out", default="thresher-out", help="output root (default: thresher-out)")
    p.add_argument("--run", required=True, metavar="RUN_ID", help="run directory name")
    p.add_argument("--to", required=True, metavar="PATH", help="file to write (replaced)")
    p.add_argument(
        "--format",
        choices=["parquet", "jsonl"],
        help="default: jsonl when PATH ends in .jsonl, else parquet",
    )
    p.set_defaults(handler=handle)


def export_format(path: str, fmt: str | None) -> str:
    return fmt or ("jsonl" if path.endswith(".jsonl") else "parquet")


def check_run(con, out: str, run_id: str) -> None:
    """A run id the catalog knows and whose final documents are set, else a one-line error
    naming the runs that can be exported."""
    from thresher.scorers.errors import InputError

    rows = con.execute(
        "SELECT run_id, status, final_documents FROM runs ORDER BY run_id"
    ).fetchall()
    exportable = [r for r, _, final in rows if final]
    status = {r: s for r, s, _ in rows}
    if run_id in exportable:
        return
    if run_id in status:
        raise InputError(
            f"run {run_id} has no final documents (status {status[run_id]}); "
            f"runs with documents: {', '.join(exportable) or 'none'}"
        )
    raise InputError(
        f"no run {run_id!r} in {out}; runs with documents: {', '.join(exportable) or 'none'}"
    )


def document_batches(con, run_id: str):
    """The run's rows of the `documents` view as an Arrow RecordBatchReader."""
    rel = con.sql(
        "SELECT * EXCLUDE (run_id) FROM documents WHERE run_id = ? ORDER BY id", params=[run_id]
    )
    # DuckDB 2 names it to_arrow_reader, 1.x fetch_arrow_reader (pyproject allows both).
    reader = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader
    return reader(BATCH_ROWS)


def write_parquet(reader, path: str) -> int:
    import pyarrow.parquet as pq

    rows = 0
    with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def write_jsonl(reader, path: str) -> int:
    import orjson

    rows = 0
    with open(path, "wb") as f:
        for batch in reader:
            f.writelines(orjson.dumps(r) + b"\n" for r in batch.to_pylist())
            rows += batch.num_rows
    return rows


def handle(args) -> int:
    from pathlib import Path

    from thresher.flows import catalog
    from thresher.pipelines import io

    con = catalog.connect(args.out)
    check_run(con, args.out, args.run)
    reader = document_batches(con, args.run)
    writer = write_jsonl if export_format(args.to, args.format) == "jsonl" else write_parquet
    rows = 0

    def save(tmp: str) -> None:
        nonlocal rows
        rows = writer(reader, tmp)

    path = io.write_with(save, args.to)  # temporary name in PATH's directory, then os.replace
    print(f"exported {rows} rows ({Path(path).stat().st_size:,} bytes) of run {args.run} to {path}")
    return 0
