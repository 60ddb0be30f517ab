"""A run that exits 0 shipped what its stats say: a resume notices deleted, truncated or
foreign output files and redoes those stages; `thresher verify` also checks checksums; a
stage refuses input that is not what its upstream kept; a damaged shard is never reused."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from thresher.flows import catalog


def corpus(root: Path, jsonl) -> list[Path]:
    """Three files with exact and near duplicates in each."""
    rng = random.Random(3)
    words = [f"w{i}" for i in range(3000)]
    paths = []
    for f in range(3):
        recs = []
        for i in range(60):
            text = " ".join(rng.choices(words, k=120))
            recs.append({"id": f"f{f}-{i:03d}", "text": text})
            if i % 6 == 0:
                recs.append({"id": f"f{f}-{i:03d}-copy", "text": text.upper()})
            if i % 5 == 0:
                edited = text.split()
                edited[7] = "changed"
                recs.append({"id": f"f{f}-{i:03d}-near", "text": " ".join(edited)})
        paths.append(jsonl(root / "in" / f"part-{f}.jsonl", recs))
    return paths


@pytest.fixture
def run(tmp_path, jsonl, cli, prefect_api):
    """A finished dedup run: (run directory, a function that reruns it, its document count)."""
    files = corpus(tmp_path, jsonl)
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"ingest": {"part_docs": 60}}))  # several documents parts
    args = [
        "dedup",
        *[a for f in files for a in ("--input", f)],
        "--out",
        tmp_path / "out",
        "--run-id",
        "r",
        "--config",
        config,
    ]

    def again() -> tuple[int, str]:
        code, _, err = cli(*args)
        return code, err

    code, err = again()
    assert code == 0, err
    run_dir = tmp_path / "out" / "runs" / "r"
    return run_dir, again, documents(run_dir)


def documents(run_dir: Path) -> int:
    con = catalog.connect(run_dir.parent.parent)
    return con.execute("SELECT count(*) FROM documents WHERE run_id = 'r'").fetchone()[0]


def published(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*.parquet"))}


def stats(run_dir: Path, stage: str) -> dict:
    return json.loads((run_dir / "stats" / f"{stage}.json").read_text())


def test_a_deleted_output_part_is_noticed_and_the_stage_redone(run):
    run_dir, again, n_docs = run
    before = published(run_dir)
    near_parts = sorted((run_dir / "documents" / "stage=near_dedup").glob("part-*.parquet"))
    assert len(near_parts) >= 2 and n_docs > 0
    near_parts[1].unlink()
    code, err = again()
    assert code == 0, err
    assert "part-00001.parquet is missing; running the stage again" in err
    assert documents(run_dir) == n_docs
    assert published(run_dir) == before
    assert stats(run_dir, "exact_dedup")["outputs"]  # intact stages were not redone


@pytest.mark.parametrize("damage", ["truncate", "extra part"])
def test_a_truncated_or_foreign_ingest_part_is_redone(run, damage):
    run_dir, again, n_docs = run
    before = published(run_dir)
    part = sorted((run_dir / "documents" / "stage=ingest").glob("part-*.parquet"))[0]
    if damage == "truncate":
        part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    else:  # a part nobody published would be read as documents by every later reader
        shutil.copy(part, part.with_name("part-99999-00000.parquet"))
    code, err = again()
    assert code == 0, err
    assert "ingest:" in err and "running the stage again" in err
    assert published(run_dir) == before
    assert documents(run_dir) == n_docs


def test_verify_checks_checksums_that_a_resume_does_not(run, cli):
    run_dir, _, _ = run
    code, out, err = cli("verify", run_dir)
    assert code == 0, err
    assert "ok:" in out
    part = sorted((run_dir / "documents" / "stage=near_dedup").glob("part-*.parquet"))[0]
    data = bytearray(part.read_bytes())
    data[len(data) // 3] ^= 0xFF  # same size, same footer: only the checksum can tell
    part.write_bytes(bytes(data))
    code, out, err = cli("verify", run_dir)
    assert code == 1
    assert f"documents/stage=near_dedup/{part.name} does not match its checksum" in out
    assert err.count("\n") == 1 and "verify --repair" in err


def test_verify_repair_then_the_same_command_restores_a_same_size_flip(run, cli):
    run_dir, again, n_docs = run
    before = published(run_dir)
    part = sorted((run_dir / "documents" / "stage=near_dedup").glob("part-*.parquet"))[0]
    data = bytearray(part.read_bytes())
    data[len(data) // 3] ^= 0xFF
    part.write_bytes(bytes(data))
    code, err = again()
    assert code == 0 and published(run_dir) != before  # the cheap resume check cannot see it
    code, _, err = cli("verify", "--repair", run_dir)
    assert code == 1 and "marked near_dedup unfinished" in err
    code, err = again()
    assert code == 0, err
    assert published(run_dir) == before and documents(run_dir) == n_docs
    assert cli("verify", run_dir)[0] == 0


def test_a_stage_refuses_input_that_is_not_what_its_upstream_kept(run):
    run_dir, again, _ = run
    path = run_dir / "stats" / "exact_dedup.json"
    tampered = stats(run_dir, "exact_dedup")
    tampered["kept"] += 1  # what a stale or edited record would claim
    path.write_text(json.dumps(tampered))
    (run_dir / "stats" / "near_dedup.json").unlink()
    code, err = again()
    assert code == 1
    assert f"but exact_dedup kept {tampered['kept']}" in err and err.count("\n") == 1


def test_a_damaged_shard_is_rewritten_not_linked(cli, tmp_path, jsonl):
    from thresher.scorers.text_tokenizers import train_byte_level_bpe

    rng = random.Random(5)
    docs = [
        {
            "id": f"d{i}",
            "text": " ".join(
                rng.choices(["alpha", "beta", "gamma", "delta", "x1"], k=rng.randint(5, 80))
            ),
        }
        for i in range(200)
    ]
    data = jsonl(tmp_path / "in.jsonl", docs)
    tok = tmp_path / "tok.json"
    train_byte_level_bpe([d["text"] for d in docs], 300).save(str(tok))
    out = tmp_path / "shards"
    args = ("shards", "--tokenizer", tok, "--input", data, "--out", out, "--shard-tokens", "800")
    code, _, err = cli(*args)
    assert code == 0, err
    shard_set = out / "shards" / "default"
    good = {p.name: p.read_bytes() for p in shard_set.glob("*.bin")}
    victim = shard_set / sorted(good)[0]
    damaged = bytearray(good[victim.name])
    damaged[5] ^= 0xFF  # same size: only the checksum tells
    victim.write_bytes(bytes(damaged))
    (out / "stats" / "shards.json").unlink()  # rebuild: unchanged shards are linked if intact
    code, _, err = cli(*args)
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in shard_set.glob("*.bin")} == good
    code, stdout, _ = cli("shards", "verify", shard_set)
    assert code == 0, stdout


def test_a_damaged_old_manifest_means_nothing_to_reuse_not_a_crash(cli, tmp_path, jsonl):
    from thresher.scorers.text_tokenizers import train_byte_level_bpe

    rng = random.Random(6)
    docs = [
        {"id": f"d{i}", "text": " ".join(rng.choices(["a1", "b2", "c3", "d4"], k=40))}
        for i in range(100)
    ]
    data = jsonl(tmp_path / "in.jsonl", docs)
    tok = tmp_path / "tok.json"
    train_byte_level_bpe([d["text"] for d in docs], 300).save(str(tok))
    out = tmp_path / "shards"
    args = ("shards", "--tokenizer", tok, "--input", data, "--out", out, "--shard-tokens", "500")
    assert cli(*args)[0] == 0
    shard_set = out / "shards" / "default"
    good = {p.name: p.read_bytes() for p in shard_set.iterdir()}
    manifest = shard_set / "manifest.parquet"
    manifest.write_bytes(manifest.read_bytes()[: manifest.stat().st_size // 2])
    code, _, err = cli(*args)  # the truncated manifest is noticed; the set is rewritten
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in shard_set.iterdir()} == good


def test_a_same_size_flip_fails_the_reading_stage_in_one_line(run):
    """What the cheap resume check cannot see, the Parquet page checksums Thresher writes
    catch when the file is read: a loud one-line failure, never documents from garbage."""
    run_dir, again, _ = run
    part = sorted((run_dir / "documents" / "stage=ingest").glob("part-*.parquet"))[0]
    data = bytearray(part.read_bytes())
    data[len(data) // 3] ^= 0xFF
    part.write_bytes(bytes(data))
    (run_dir / "stats" / "exact_dedup.json").unlink()  # exact dedup must read ingest's parts again
    code, err = again()
    assert code == 1 and err.count("\n") == 1
    assert "a Parquet file of this run is damaged (a page checksum failed)" in err
