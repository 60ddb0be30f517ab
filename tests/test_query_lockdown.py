"""`thresher query` cannot write: DuckDB's parser decides read-only-ness, and the connection
itself is locked down in case a statement slips past that check."""

from __future__ import annotations

import duckdb
import pytest

from thresher.flows import catalog
from thresher.pipelines import ingest
from thresher.pipelines.stage import StageContext


@pytest.fixture
def out(tmp_path, jsonl):
    """An output root holding one run's ingest tables."""
    data = jsonl(
        tmp_path / "in.jsonl", [{"id": f"d{i}", "text": f"document {i}"} for i in range(20)]
    )
    ctx = StageContext(run_dir=tmp_path / "out" / "runs" / "r", partitions=2).with_inputs(
        [str(data)]
    )
    ingest.run(ctx, ingest.IngestConfig())
    return tmp_path / "out"


@pytest.mark.parametrize(
    "statement",
    [
        "EXPLAIN ANALYZE COPY (SELECT 42) TO '{target}'",
        "COPY (SELECT 42) TO '{target}'",
        "EXPLAIN ANALYZE INSTALL httpfs",
        "SELECT 1; COPY (SELECT 42) TO '{target}'",
        "CREATE TABLE t AS SELECT 1",
        "ATTACH '{target}' AS other",
    ],
)
def test_statements_that_write_are_refused(out, statement):
    part = next((out / "runs" / "r" / "documents" / "stage=ingest").glob("part-*.parquet"))
    before = part.read_bytes()
    for target in (part, out / "new.csv"):
        with pytest.raises(catalog.UserError, match="one read-only statement"):
            catalog.query(out, statement.format(target=target))
    assert part.read_bytes() == before and not (out / "new.csv").exists()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT count(*) FROM documents_all",
        "WITH d AS (SELECT * FROM documents_all) SELECT count(*) FROM d",
        "EXPLAIN SELECT count(*) FROM documents_all",
        "EXPLAIN ANALYZE SELECT count(*) FROM documents_all",
    ],
)
def test_reads_still_work(out, statement):
    assert catalog.query(out, statement).num_rows >= 1


def test_the_connection_itself_cannot_touch_files_outside_the_outputs(out, tmp_path):
    con = catalog.connect(out)  # no statement check here: the settings alone must hold
    assert con.execute("SELECT count(*) FROM documents_all").fetchone()[0] == 20
    outside = tmp_path / "outside.csv"
    for statement in (
        f"COPY (SELECT 42) TO '{outside}'",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"ATTACH '{tmp_path / 'x.db'}'",
        "INSTALL httpfs",
        "LOAD httpfs",
    ):
        with pytest.raises(duckdb.Error):
            con.execute(statement)
    assert not outside.exists() and not (tmp_path / "x.db").exists()
    for setting in (
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET autoinstall_known_extensions = true",
    ):
        with pytest.raises(duckdb.Error, match="configuration"):
            con.execute(setting)


def test_a_truncated_part_is_one_line_naming_the_file(out, cli):
    part = next((out / "runs" / "r" / "documents" / "stage=ingest").glob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[:100])
    code, _, err = cli("query", "--out", out, "SELECT count(*) FROM documents_all")
    assert code == 1 and err.count("\n") == 1
    assert str(part) in err and "thresher verify" in err
