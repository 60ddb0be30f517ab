"""Configured resources are checked before the first stage, and a keeper rule that ranks by
a field no document has is an error, not a silent fallback."""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq
import pytest


@pytest.fixture
def data(tmp_path, jsonl):
    rng = random.Random(11)
    words = [f"w{i}" for i in range(20_000)]
    recs = []
    for i in range(40):  # unrelated originals, each with one near copy
        text = " ".join(rng.choices(words, k=150))
        recs.append({"id": f"d{i:02d}", "text": text, "quality": i})
        recs.append({"id": f"d{i:02d}-near", "text": text + " one more", "quality": 100 - i})
    return jsonl(tmp_path / "in.jsonl", recs)


def run_with(cli, tmp_path, data, config: dict):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config))
    return cli("run", "--input", data, "--out", tmp_path / "out", "--config", path)


@pytest.mark.parametrize(
    ("section", "content", "needle"),
    [
        ("score", None, "does not exist"),
        ("shards", b"garbage {", "is not valid JSON (Expecting value at line 1 column 1)"),
        ("shards", b'{"model": 1', "is not valid JSON"),
    ],
)
def test_bad_model_or_tokenizer_fails_before_any_stage(
    cli, tmp_path, data, prefect_api, section, content, needle
):
    resource = tmp_path / ("model.bin" if section == "score" else "tokenizer.json")
    if content is not None:
        resource.write_bytes(content)
    key = "model" if section == "score" else "tokenizer"
    code, _, err = run_with(cli, tmp_path, data, {section: {key: str(resource)}})
    assert code == 1
    assert needle in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "runs").exists()  # not even ingest ran


def test_keep_by_a_field_no_document_has_is_an_error(cli, tmp_path, data, prefect_api):
    code, _, err = run_with(cli, tmp_path, data, {"near_dedup": {"keep": "max:qualty"}})
    assert code == 1 and err.count("\n") == 1
    assert "near-duplicate candidates has a numeric metadata field 'qualty'" in err


def test_keep_by_a_field_ranks_by_it_and_counts_the_documents_without_it(
    cli, tmp_path, data, prefect_api
):
    code, _, err = run_with(cli, tmp_path, data, {"near_dedup": {"keep": "max:quality"}})
    assert code == 0, err
    run_dir = next((tmp_path / "out" / "runs").iterdir())
    stats = json.loads((run_dir / "stats" / "near_dedup.json").read_text())
    assert stats["keep_field_missing"] == 0 and stats["candidates"] == 80
    kept = {
        r["id"]
        for r in pq.read_table(run_dir / "dedup" / "clusters.parquet").to_pylist()
        if r["kept"]
    }
    # quality i for the original, 100 - i for its near copy: the higher one is kept
    assert kept == {f"d{i:02d}" if i > 50 else f"d{i:02d}-near" for i in range(40)}
