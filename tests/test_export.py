"""`thresher export`: exactly one run's rows of the `documents` view, as Parquet or JSONL."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest


def random_text(seed: int) -> str:
    """40 random words: unrelated texts, so near dedup keeps every one of them."""
    import random

    rng = random.Random(seed)
    return " ".join(
        "".join(rng.choices("abcdefghijklmnop", k=rng.randint(3, 8))) for _ in range(40)
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, prefect_api):
    """Two small dedup runs in one output root; run `a` has an exact duplicate to drop, so its
    documents view differs from its input."""
    from conftest import write_jsonl

    from thresher.flows.cli import main

    d = tmp_path_factory.mktemp("export")
    a = [{"id": f"a{i}", "text": random_text(i), "lang": "en"} for i in range(6)]
    a.append({"id": "a-copy", "text": a[0]["text"]})
    b = [{"id": f"b{i}", "text": random_text(100 + i)} for i in range(4)]
    for run_id, docs in (("a", a), ("b", b)):
        path = write_jsonl(d / f"{run_id}.jsonl", docs)
        assert (
            main(["dedup", "--input", str(path), "--out", str(d / "out"), "--run-id", run_id]) == 0
        )
    return d / "out"


def expected_rows(out, run_id: str) -> tuple[list[tuple], list[str]]:
    from thresher.flows import catalog

    con = catalog.connect(out)
    rel = con.sql(
        "SELECT * EXCLUDE (run_id) FROM documents WHERE run_id = ? ORDER BY id", params=[run_id]
    )
    return rel.fetchall(), rel.columns


def as_dicts(rows_and_columns) -> list[dict]:
    rows, columns = rows_and_columns
    return [dict(zip(columns, r, strict=True)) for r in rows]


def check_printed(out: str, path, rows: int) -> None:
    assert out.count("\n") == 1
    assert f"exported {rows} rows ({path.stat().st_size:,} bytes)" in out


def test_parquet_holds_exactly_the_runs_documents(cli, two_runs, tmp_path):
    target = tmp_path / "exports" / "a.parquet"
    code, out, err = cli("export", "--out", two_runs, "--run", "a", "--to", target)
    assert code == 0, err
    want = as_dicts(expected_rows(two_runs, "a"))
    assert len(want) == 6 and len({r["id"] for r in want} & {"a0", "a-copy"}) == 1  # one copy
    table = pq.read_table(target)
    assert "run_id" not in table.column_names
    assert table.column_names == expected_rows(two_runs, "a")[1]
    assert table.to_pylist() == want
    check_printed(out, target, 6)
    assert [p.name for p in target.parent.iterdir()] == ["a.parquet"]  # no temporary left


def test_jsonl_by_suffix_or_flag(cli, two_runs, tmp_path):
    want = as_dicts(expected_rows(two_runs, "b"))
    for target, extra in ((tmp_path / "b.jsonl", []), (tmp_path / "b.txt", ["--format", "jsonl"])):
        code, out, err = cli("export", "--out", two_runs, "--run", "b", "--to", target, *extra)
        assert code == 0, err
        lines = target.read_text().splitlines()
        assert [json.loads(line) for line in lines] == want
        assert {r["id"] for r in want} == {f"b{i}" for i in range(4)}
        check_printed(out, target, 4)


def test_export_replaces_an_existing_file(cli, two_runs, tmp_path):
    target = tmp_path / "x.parquet"
    target.write_text("old")
    assert cli("export", "--out", two_runs, "--run", "b", "--to", target)[0] == 0
    assert pq.read_table(target).num_rows == 4


def test_unknown_run_is_one_line_listing_the_runs(cli, two_runs, tmp_path):
    target = tmp_path / "none.parquet"
    code, out, err = cli("export", "--out", two_runs, "--run", "c", "--to", target)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "no run 'c'" in err and "runs with documents: a, b" in err
    assert not target.exists()
