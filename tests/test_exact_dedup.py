"""Exact dedup: normalisation switches decide what 'the same' is; the keeper is the smallest id."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest

from thresher.pipelines import exact_dedup, ingest, io
from thresher.pipelines.docsets import DocSet
from thresher.pipelines.stage import StageContext, check_accounting, run_stage
from thresher.scorers.errors import AccountingError

WORDS = [
    "amber",
    "birch",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "grove",
    "heron",
    "iris",
    "juniper",
    "kestrel",
    "lotus",
]
BASE = [
    f"The {WORDS[i % 12]} report covers {WORDS[i * 5 % 12]} and {WORDS[i * 7 % 11]}, batch {i // 12}."
    for i in range(40)
]
BASE[6] = "Invoice 1234 was shipped on day 56."


def corpus() -> list[dict]:
    recs = [{"id": f"doc-{i:03d}", "text": t} for i, t in enumerate(BASE)]
    recs += [
        {"id": "a-copy", "text": BASE[3].upper()},  # case only
        {"id": "zz-copy", "text": "  " + BASE[3].replace(" ", " \n\t ") + "\n"},  # spacing only
        {"id": "doc-000-copy", "text": BASE[0]},  # byte-identical, larger id than its original
        {"id": "punct", "text": BASE[5].replace(",", " -").rstrip(".") + "!"},  # punctuation
        {"id": "digits", "text": "Invoice 9876 was shipped on day 12."},  # digits
    ]
    return recs


def dedup(tmp_path: Path, jsonl, recs, name="run", **cfg) -> tuple[dict, pa.Table, pa.Table]:
    path = jsonl(tmp_path / name / "in.jsonl", recs)
    ctx = StageContext(run_dir=tmp_path / name / "out", partitions=4)
    ingest.run(ctx.with_inputs([str(path)]), ingest.IngestConfig())
    stats = exact_dedup.run(ctx, exact_dedup.ExactDedupConfig(**cfg), ingest.DOCS_OUT, ingest.STAGE)
    kept = exact_dedup.surviving(DocSet(ingest.DOCS_OUT)).read(ctx.run_dir)
    parts = list(io.iter_parts(ctx.run_dir / exact_dedup.MAP_OUT))
    removed = io.read_table(parts) if parts else pa.table({"id": [], "kept_id": []})
    return stats, kept, removed


def mapping(removed: pa.Table) -> dict:
    return dict(
        zip(removed.column("id").to_pylist(), removed.column("kept_id").to_pylist(), strict=True)
    )


def test_case_and_whitespace_copies_removed_keeper_is_smallest_id(tmp_path, jsonl):
    stats, kept, removed = dedup(tmp_path, jsonl, corpus())
    # 'a-copy' < 'doc-003' < 'zz-copy': the upper-cased copy wins by the documented rule
    assert mapping(removed) == {"doc-003": "a-copy", "zz-copy": "a-copy", "doc-000-copy": "doc-000"}
    assert "a-copy" in kept.column("id").to_pylist()
    assert stats["dropped"] == {"exact_duplicate": 3}
    assert stats["in"] == len(corpus()) == stats["kept"] + 3
    assert kept.num_rows == stats["kept"]


def test_only_decisions_are_written_part_for_part_and_the_text_stays_where_it_was(tmp_path, jsonl):
    recs = corpus() * 1 + [{"id": f"x{i:03d}", "text": BASE[i % 40]} for i in range(200)]
    path = jsonl(tmp_path / "in.jsonl", recs)
    ctx = StageContext(run_dir=tmp_path / "out", partitions=3)
    ingest.run(
        ctx.with_inputs([str(path)]), ingest.IngestConfig(part_docs=60)
    )  # several documents parts
    stats = exact_dedup.run(ctx, exact_dedup.ExactDedupConfig(), ingest.DOCS_OUT, ingest.STAGE)
    assert not (ctx.run_dir / "documents" / "stage=exact_dedup").exists()
    doc_parts = {
        p.name: set(io.read_table([p]).column("id").to_pylist())
        for p in io.iter_parts(ctx.run_dir / ingest.DOCS_OUT)
    }
    map_parts = list(io.iter_parts(ctx.run_dir / exact_dedup.MAP_OUT))
    assert len(doc_parts) == 5 and len(map_parts) > 1
    for part in map_parts:  # every removed id is listed beside the part that holds it
        assert set(io.read_table([part]).column("id").to_pylist()) <= doc_parts[part.name]
    survivors = exact_dedup.surviving(DocSet(ingest.DOCS_OUT)).read(ctx.run_dir)
    assert survivors.num_rows == stats["kept"] == len(recs) - stats["dropped"]["exact_duplicate"]
    assert len(set(survivors.column("id").to_pylist())) == survivors.num_rows


def test_normalisation_switches(tmp_path, jsonl):
    _, _, removed = dedup(
        tmp_path, jsonl, corpus(), name="strict", lowercase=False, collapse_whitespace=False
    )
    assert mapping(removed) == {"doc-000-copy": "doc-000"}  # only the byte-identical copy
    _, _, removed = dedup(
        tmp_path, jsonl, corpus(), name="loose", strip_punctuation=True, normalize_digits=True
    )
    m = mapping(removed)
    assert m["punct"] == "doc-005" and m["doc-006"] == "digits"  # "digits" < "doc-006"
    assert len(m) == 5


def test_keeper_independent_of_input_order(tmp_path, jsonl):
    recs = corpus()
    shuffled = recs[:]
    random.Random(3).shuffle(shuffled)
    _, kept1, removed1 = dedup(tmp_path, jsonl, recs, name="a")
    _, kept2, removed2 = dedup(tmp_path, jsonl, shuffled, name="b")
    assert mapping(removed1) == mapping(removed2)
    cols = ["id", "text", "source"]
    assert kept1.select(cols).sort_by("id").equals(kept2.select(cols).sort_by("id"))


def test_rerun_of_same_config_is_skipped_and_changed_config_reruns(tmp_path, jsonl):
    path = jsonl(tmp_path / "in.jsonl", corpus())
    ctx = StageContext(run_dir=tmp_path / "out", partitions=2)
    first = ingest.run(ctx.with_inputs([str(path)]), ingest.IngestConfig())
    ex1 = exact_dedup.run(ctx, exact_dedup.ExactDedupConfig(), ingest.DOCS_OUT, ingest.STAGE)
    before = {p.name: p.read_bytes() for p in io.iter_parts(ctx.run_dir / exact_dedup.MAP_OUT)}
    again = ingest.run(ctx.with_inputs([str(path)]), ingest.IngestConfig())
    ex2 = exact_dedup.run(ctx, exact_dedup.ExactDedupConfig(), ingest.DOCS_OUT, ingest.STAGE)
    assert not first["skipped"] and again["skipped"] and ex2["skipped"]
    assert ex2["fingerprint"] == ex1["fingerprint"]
    after = {p.name: p.read_bytes() for p in io.iter_parts(ctx.run_dir / exact_dedup.MAP_OUT)}
    assert before == after
    ex3 = exact_dedup.run(
        ctx, exact_dedup.ExactDedupConfig(lowercase=False), ingest.DOCS_OUT, ingest.STAGE
    )
    assert not ex3["skipped"] and ex3["dropped"]["exact_duplicate"] == 2


def test_accounting_violation_fails_loudly_and_publishes_nothing(tmp_path):
    with pytest.raises(AccountingError, match="in=10"):
        check_accounting("x", {"in": 10, "kept": 7, "dropped": {"a": 1}, "rejected": 1})
    ctx = StageContext(run_dir=tmp_path)

    def lossy(staging: Path) -> dict:
        (staging / "table").mkdir()
        (staging / "table" / "part-00000.parquet").write_bytes(b"x")
        return {"in": 5, "kept": 4}

    with pytest.raises(AccountingError):
        run_stage(ctx, "lossy", {}, [], ["table"], lossy)
    assert not (tmp_path / "table").exists()
    assert not ctx.stats_path("lossy").exists()
    assert not any((tmp_path / ".staging").iterdir())
