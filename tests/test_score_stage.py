"""The score stage: scores table, exact top-X% selection, accounting, and the curate flow."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_predictive_strength import synthetic, train_tiny_scorer

from thresher.pipelines import io, reasons, schemas
from thresher.pipelines import score as score_stage
from thresher.pipelines.stage import StageContext


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return train_tiny_scorer(
        tmp_path_factory.mktemp("model") / "quality.bin", 120, seed=2, epoch=10
    )


def documents_parts(directory, n=120, parts=3):
    """A documents table in `parts` files; good and bad texts of varied lengths."""
    pos, neg = synthetic(n // 2, seed=11)
    texts = [t for pair in zip(pos, neg, strict=True) for t in pair]
    rows = [
        {
            "id": f"doc-{i:04d}",
            "source": "s",
            "text": t,
            "n_chars": len(t),
            "file": "f",
            "line": i,
            "metadata": None,
        }
        for i, t in enumerate(texts)
    ]
    paths = []
    for p in range(parts):
        chunk = sorted(rows[p::parts], key=lambda r: r["id"])
        paths.append(
            str(
                io.write_parquet(
                    pa.Table.from_pylist(chunk, schema=schemas.DOCUMENTS),
                    directory / f"part-{p:05d}.parquet",
                )
            )
        )
    return paths, rows


def run_score(tmp_path, model_path, **rule):
    inputs, rows = documents_parts(tmp_path / "docs")
    ctx = StageContext(run_dir=tmp_path / "run")
    cfg = score_stage.ScoreConfig(model=str(model_path), **rule)
    stats = score_stage.run(ctx, cfg, inputs, [])
    scores = io.read_table(io.iter_parts(ctx.run_dir / "scores" / "quality"))
    return (
        ctx,
        stats,
        rows,
        dict(zip(scores["id"].to_pylist(), scores["score"].to_pylist(), strict=True)),
    )


def selected_ids(ctx) -> set:
    parts = list(io.iter_parts(ctx.run_dir / "selected"))
    return set(io.read_table(parts, columns=["id"]).column("id").to_pylist()) if parts else set()


def test_top_chars_keeps_exactly_the_walk_down(tmp_path, model_path):
    ctx, stats, rows, score = run_score(tmp_path, model_path, keep_top_chars=0.25)
    assert len(score) == len(rows) and all(0 <= s <= 1 for s in score.values())
    # the rule, computed here the slow obvious way
    order = sorted(rows, key=lambda r: (-score[r["id"]], r["id"]))
    total, running, expected = sum(r["n_chars"] for r in rows), 0, set()
    for r in order:
        if running >= 0.25 * total:
            break
        expected.add(r["id"])
        running += r["n_chars"]
    assert selected_ids(ctx) == expected
    assert stats["in"] == stats["kept"] + stats["dropped"][reasons.BELOW_QUALITY_THRESHOLD]
    assert stats["kept"] == len(expected)
    sel = stats["selection"]
    assert sel["kept_chars"] == running and sel["threshold"] == min(score[i] for i in expected)
    # kept documents keep the documents schema, text untouched
    kept = pq.read_table(next(io.iter_parts(ctx.run_dir / "selected")))
    assert kept.schema.names == schemas.DOCUMENTS.names
    by_id = {r["id"]: r["text"] for r in rows}
    assert all(
        by_id[i] == t for i, t in zip(kept["id"].to_pylist(), kept["text"].to_pylist(), strict=True)
    )
    # the selection prefers the good vocabulary the scorer was trained on
    good = sum("river" in by_id[i] or "science" in by_id[i] for i in expected)
    assert good >= 0.8 * len(expected)


def test_top_docs_and_threshold(tmp_path, model_path):
    ctx, stats, rows, score = run_score(tmp_path / "a", model_path, keep_top_docs=0.1)
    want = {
        r["id"] for r in sorted(rows, key=lambda r: (-score[r["id"]], r["id"]))[: math.ceil(12)]
    }
    assert selected_ids(ctx) == want and stats["kept"] == 12
    ctx, stats, rows, score = run_score(tmp_path / "b", model_path, threshold=0.5)
    assert selected_ids(ctx) == {i for i, s in score.items() if s >= 0.5}
    assert stats["selection"]["threshold"] == 0.5
    assert stats["in"] == stats["kept"] + sum(stats["dropped"].values()) == len(rows)


def test_one_rule_only():
    with pytest.raises(ValueError, match="choose one selection rule"):
        score_stage.ScoreConfig(model="m.bin", keep_top_chars=0.1, threshold=0.5)


def test_curate_flow_scores_and_selects(tmp_path, model_path, cli, jsonl, prefect_api):
    pos, neg = synthetic(30, seed=4)
    jsonl(
        tmp_path / "in" / "docs.jsonl",
        [{"id": f"x{i:03d}", "text": t} for i, t in enumerate(pos + neg)],
    )
    cfg = tmp_path / "run.yaml"
    cfg.write_text(json.dumps({"score": {"model": str(model_path), "keep_top_chars": 0.3}}))
    out = tmp_path / "out"
    rc, text, err = cli(
        "run", "--input", tmp_path / "in", "--out", out, "--config", cfg, "--run-id", "r1"
    )
    assert rc == 0, err
    run = io.read_json(out / "runs" / "r1" / "run.json")
    assert run["final_documents"] == "selected" and "score" in run["stages"]
    rc, text, err = cli(
        "query",
        "--out",
        out,
        "--format",
        "json",
        "SELECT (SELECT count(*) FROM scores WHERE scorer = 'quality') AS scored, "
        "(SELECT count(*) FROM selected) AS selected, "
        "(SELECT count(*) FROM documents) AS documents",
    )
    assert rc == 0, err
    row = json.loads(text)[0]
    assert row["scored"] == 60 and row["selected"] == row["documents"] > 0


def test_new_rule_reuses_scores(tmp_path, model_path):
    ctx, stats, rows, score = run_score(tmp_path, model_path, keep_top_chars=0.25)
    assert stats["scores_reused"] is False
    cfg = score_stage.ScoreConfig(model=str(model_path), keep_top_docs=0.5)
    inputs = [str(p) for p in io.iter_parts(tmp_path / "docs")]
    stats = score_stage.run(ctx, cfg, inputs, [])
    assert stats["scores_reused"] is True and not stats["skipped"]
    want = {r["id"] for r in sorted(rows, key=lambda r: (-score[r["id"]], r["id"]))[:60]}
    assert selected_ids(ctx) == want
    assert (
        stats["in"]
        == len(rows)
        == stats["kept"] + stats["dropped"][reasons.BELOW_QUALITY_THRESHOLD]
    )
    # a retrained model (new file) scores again
    (tmp_path / "m2.bin").write_bytes(model_path.read_bytes())
    stats = score_stage.run(
        ctx,
        cfg.model_copy(update={"model": str(tmp_path / "m2.bin"), "name": "quality"}),
        inputs,
        [],
    )
    assert stats["scores_reused"] is False


def test_threshold_selects_while_scoring_and_after_reused_scores(tmp_path, model_path, monkeypatch):
    """A threshold is known before any score: the stage reads each part once (scoring and
    selecting together); a later threshold on reused scores selects in its own pass. Both
    keep exactly the documents at or above it."""
    reads = []
    real = score_stage.read_documents
    monkeypatch.setattr(
        score_stage,
        "read_documents",
        lambda path, *a, **k: reads.append(path) or real(path, *a, **k),
    )
    ctx, stats, rows, score = run_score(tmp_path, model_path, threshold=0.5)
    assert sorted(reads) == sorted(str(p) for p in io.iter_parts(tmp_path / "docs"))
    assert selected_ids(ctx) == {i for i, s in score.items() if s >= 0.5}
    inputs = [str(p) for p in io.iter_parts(tmp_path / "docs")]
    cfg = score_stage.ScoreConfig(model=str(model_path), threshold=0.3)
    stats = score_stage.run(ctx, cfg, inputs, [])
    assert stats["scores_reused"] is True
    assert selected_ids(ctx) == {i for i, s in score.items() if s >= 0.3}
    dropped = stats["dropped"][reasons.BELOW_QUALITY_THRESHOLD]
    assert stats["in"] == len(rows) == stats["kept"] + dropped
    assert stats["kept"] == sum(s >= 0.3 for s in score.values())
