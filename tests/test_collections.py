"""Collections: batches of a growing corpus deduplicated against what earlier batches kept.

The property checked on generated batches with planted copies: the union of what the
batches keep has no exact duplicates and no near-duplicate pair (by the stage's own
signatures and bands); every document a batch drops has a kept duplicate in the collection;
and the kept count matches the one-shot run over all batches within the method's error.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import pytest
from textgen import edited, vocabulary  # tests/ is on sys.path (pytest rootdir conftest)

from thresher.flows import catalog
from thresher.pipelines import io
from thresher.pipelines.collection import Collection
from thresher.pipelines.near_dedup import NearDedupConfig
from thresher.scorers import minhash
from thresher.scorers.textnorm import hash_texts


def planted_batches(seed: int, n_batches: int = 3, per_batch: int = 120) -> list[list[dict]]:
    """Batches of fresh documents plus planted copies: exact and near copies within a batch
    and of earlier batches' documents, a near copy in a later batch that is *longer* than
    its original (the one-shot rule, longest first, would keep the later one), a copy of a
    document that a near duplicate of it removed earlier, and ids reused from an earlier
    batch."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    batches: list[list[dict]] = []
    earlier: list[dict] = []
    for b in range(n_batches):
        docs = [
            {"id": f"b{b}-{i}", "text": " ".join(rng.choice(words) for _ in range(120))}
            for i in range(per_batch)
        ]
        fresh = list(docs)
        for i in range(4):  # within the batch: exact (case/space changes) and near copies
            src = rng.choice(fresh)
            docs.append({"id": f"b{b}-x{i}", "text": "  " + src["text"].upper()})
            docs.append({"id": f"b{b}-n{i}", "text": edited(rng, src["text"], 2, words)})
        if earlier:
            for i in range(6):  # copies of documents of earlier batches
                src = rng.choice(earlier)
                docs.append({"id": f"b{b}-cx{i}", "text": src["text"]})
                docs.append({"id": f"b{b}-cn{i}", "text": edited(rng, src["text"], 2, words)})
                longer = src["text"] + " " + " ".join(rng.choice(words) for _ in range(4))
                docs.append({"id": f"b{b}-cl{i}", "text": longer})
            docs.append({"id": rng.choice(earlier)["id"], "text": "an id an earlier batch used"})
        rng.shuffle(docs)
        batches.append(docs)
        earlier += fresh
    return batches


def write_batches(root: Path, batches, jsonl) -> list[Path]:
    return [jsonl(root / f"drop-{b}.jsonl", docs) for b, docs in enumerate(batches)]


def kept(out: Path, where: str) -> dict[str, str]:
    con = catalog.connect(out)
    rows = con.execute(
        f"SELECT d.id, d.text FROM documents d JOIN runs r USING (run_id) WHERE {where}"
    ).fetchall()
    return dict(rows)


def near_pairs(texts: dict[str, str], cfg: NearDedupConfig) -> list[tuple[str, str, float]]:
    """Pairs of documents that share an LSH band and whose signature similarity reaches the
    threshold: exactly what the stage would call near duplicates."""
    ids = sorted(texts)
    hashes, offsets = minhash.shingle_hashes([texts[i] for i in ids], cfg.spec())
    sig = minhash.signatures(hashes, offsets, cfg.num_perm, cfg.seed)
    bands, rows = cfg.band_rows()
    keys = minhash.band_keys(sig, bands, rows)
    by_key: dict[int, list[int]] = {}
    for doc, row in enumerate(keys):
        for k in row.tolist():
            by_key.setdefault(k, []).append(doc)
    pairs = set()
    for members in by_key.values():
        pairs.update(combinations(members, 2))
    found = []
    for a, b in sorted(pairs):
        sim = float(minhash.estimated_jaccard(sig[a], sig[b][None, :])[0])
        if sim >= cfg.threshold:
            found.append((ids[a], ids[b], sim))
    return found


def run_batches(cli, out: Path, files: list[Path], name: str = "c") -> None:
    drop = out.parent / f"drop-{name}"
    drop.mkdir()
    for f in files:  # files arrive one drop at a time, as on successive nights
        os.link(f, drop / f.name)
        code, stdout, err = cli(
            "run", "--collection", name, "--input", str(drop / "*.jsonl"), "--out", out
        )
        assert code == 0, err
        assert "batch" in stdout


@pytest.mark.parametrize("seed", [1, 2])
def test_batches_keep_no_duplicate_of_each_other(tmp_path, cli, jsonl, prefect_api, seed):
    batches = planted_batches(seed)
    files = write_batches(tmp_path / "data", batches, jsonl)
    out = tmp_path / "out"
    run_batches(cli, out, files)
    code, _, err = cli(
        "run", "--run-id", "oneshot", "--out", out, *[a for f in files for a in ("--input", f)]
    )
    assert code == 0, err

    union = kept(out, "r.collection = 'c'")
    oneshot = kept(out, "r.run_id = 'oneshot'")
    # no exact duplicates across batches (the exact stage's own normalisation)
    hashes = hash_texts(list(union.values()), lowercase=True, collapse_whitespace=True)
    assert len(set(hashes)) == len(hashes)
    # no near-duplicate pair across batches, by the near stage's own signatures and bands
    assert near_pairs(union, NearDedupConfig()) == []
    # nothing the one-shot run removed as a duplicate of a document survives next to it
    con = catalog.connect(out)
    removed_pairs = con.execute(
        "SELECT id, kept_id FROM duplicates WHERE run_id = 'oneshot'"
    ).fetchall()
    assert removed_pairs
    assert [p for p in removed_pairs if p[0] in union and p[1] in union] == []
    # every dropped document has a kept duplicate in the collection (following the chain
    # when its exact keeper was itself a near duplicate of an earlier keeper)
    keeper = dict(
        con.execute(
            "SELECT d.id, d.kept_id FROM duplicates d JOIN runs r USING (run_id) "
            "WHERE r.collection = 'c'"
        ).fetchall()
    )
    for doc in keeper:
        k, hops = keeper[doc], 0
        while k not in union and hops < 3:
            k, hops = keeper.get(k), hops + 1
        assert k in union, f"{doc} was dropped for {keeper[doc]}, which the collection lost"
    # a planted near copy that is longer than its earlier original: the earlier one stays
    longer = [d["id"] for b in batches[1:] for d in b if "-cl" in d["id"]]
    assert longer and not set(longer) & set(union)
    # same kept count as one run over everything, within the method's error (the keeper
    # rule differs: earlier keepers stay)
    print(f"seed {seed}: kept by batches {len(union)}, by one run {len(oneshot)}")
    assert abs(len(union) - len(oneshot)) <= 0.02 * len(oneshot)
    # ids reused from an earlier batch are rejects
    reused = con.execute(
        "SELECT count(*) FROM rejects r JOIN runs USING (run_id) WHERE collection = 'c' "
        "AND reason = 'duplicate_id' AND detail LIKE 'id already used by batch%'"
    ).fetchone()[0]
    assert reused == len(batches) - 1
    rows = con.execute(
        "SELECT batch, state, docs_in, final_kept, cumulative_kept FROM collections "
        "WHERE collection = 'c' ORDER BY batch"
    ).fetchall()
    assert [r[:2] for r in rows] == [(1, "committed"), (2, "committed"), (3, "committed")]
    assert rows[-1][4] == len(union) == sum(r[3] for r in rows)
    assert [r[2] for r in rows] == [len(b) for b in batches]


def test_an_unchanged_drop_is_nothing_to_do(tmp_path, cli, jsonl, prefect_api):
    files = write_batches(tmp_path / "data", planted_batches(3, n_batches=1, per_batch=30), jsonl)
    out = tmp_path / "out"
    args = ("run", "--collection", "c", "--input", files[0], "--out", out)
    assert cli(*args)[0] == 0
    before = io.read_json(out / "collections" / "c" / "collection.json")
    code, stdout, _ = cli(*args)
    assert code == 0
    assert "nothing new" in stdout
    assert io.read_json(out / "collections" / "c" / "collection.json") == before


def test_changing_what_counts_as_duplicate_is_refused(tmp_path, cli, jsonl, prefect_api):
    files = write_batches(tmp_path / "data", planted_batches(4, n_batches=2, per_batch=20), jsonl)
    out = tmp_path / "out"
    assert cli("run", "--collection", "c", "--input", files[0], "--out", out)[0] == 0
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"near_dedup": {"threshold": 0.7}}))
    code, _, err = cli(
        "run", "--collection", "c", "--input", files[1], "--out", out, "--config", config
    )
    assert code == 1
    assert "collection c" in err and "near_dedup" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("run", "--collection", "c", "--run-id", "x", "--input", files[1])
    assert code == 1 and "drop run_id" in err


KILLABLE = [sys.executable, "-m", "thresher.flows.cli"]


def big_second_batch(tmp_path: Path, jsonl) -> list[Path]:
    rng = random.Random(7)
    words = vocabulary(rng)
    first = [
        {"id": f"a{i}", "text": " ".join(rng.choice(words) for _ in range(60))} for i in range(400)
    ]
    second = [
        {"id": f"b{i}", "text": " ".join(rng.choice(words) for _ in range(60))}
        for i in range(30_000)
    ]
    second += [
        {"id": f"c{i}", "text": d["text"] + " " + rng.choice(words)} for i, d in enumerate(first)
    ]
    return [
        jsonl(tmp_path / "data" / "d1.jsonl", first),
        jsonl(tmp_path / "data" / "d2.jsonl", second),
    ]


def collection_bytes(out: Path, name: str) -> dict[str, bytes]:
    """Every index file of the collection and every Parquet output of its runs."""
    files = {}
    for p in sorted((out / "collections" / name / "index").rglob("*.parquet")):
        files[str(p.relative_to(out / "collections" / name))] = p.read_bytes()
    for p in sorted((out / "runs").rglob("*.parquet")):
        if ".staging" not in p.parts:
            files[str(p.relative_to(out))] = p.read_bytes()
    return files


def test_a_batch_killed_in_near_dedup_reruns_to_the_same_collection(tmp_path, jsonl, prefect_api):
    from prefect.settings import PREFECT_API_URL

    d1, d2 = big_second_batch(tmp_path, jsonl)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}

    def run(out: Path, drop: Path, **popen):
        args = ["run", "--collection", "c", "--input", str(drop / "*.jsonl"), "--out", str(out)]
        return subprocess.Popen([*KILLABLE, *args], env=env, start_new_session=True, **popen)

    clean, killed, drop = tmp_path / "clean", tmp_path / "killed", tmp_path / "drop"
    drop.mkdir()  # one drop folder for both collections: the file paths are in the outputs
    os.link(d1, drop / d1.name)
    assert run(clean, drop).wait() == 0 and run(killed, drop).wait() == 0
    os.link(d2, drop / d2.name)
    assert run(clean, drop).wait() == 0

    proc = run(killed, drop, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = killed / "runs" / "c-b00002" / ".staging"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if list(staging.glob("near_dedup-*/_spill")):
            break  # near dedup is mid-way
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    state = Collection(killed, "c")
    assert [b["batch"] for b in state.committed()] == [1], "the kill came too late"
    assert state.state["pending"]["batch"] == 2
    assert not (killed / "runs" / "c-b00002" / "stats" / "near_dedup.json").exists()
    assert not list((killed / "collections" / "c" / "index").rglob("b00002-*"))
    assert run(killed, drop).wait() == 0  # the next run finishes the pending batch first

    results = {
        name: collection_bytes(out, "c") for name, out in (("clean", clean), ("killed", killed))
    }
    assert results["killed"].keys() == results["clean"].keys()
    assert results["killed"] == results["clean"]
    state = Collection(tmp_path / "killed", "c")
    assert [b["batch"] for b in state.committed()] == [1, 2] and state.state["pending"] is None
    near = io.read_json(tmp_path / "killed" / "runs" / "c-b00002" / "stats" / "near_dedup.json")
    assert near["dropped"]["near_duplicate"] >= 395  # the near copies of batch 1's documents


def test_the_dashboard_lists_the_collection_batches(tmp_path, cli, jsonl, prefect_api):
    from starlette.testclient import TestClient

    from thresher.flows.dashboard.app import create_app

    batches = planted_batches(6, n_batches=2, per_batch=30)
    files = write_batches(tmp_path / "data", batches, jsonl)
    out = tmp_path / "out"
    run_batches(cli, out, files, name="nightly")
    page = TestClient(create_app(out), base_url="http://127.0.0.1").get("/")
    assert page.status_code == 200
    assert "nightly-b00001" in page.text and "nightly-b00002" in page.text
    assert page.text.count(">committed<") == 2


def test_a_failed_batch_is_visible_and_finished_first_by_the_next_run(
    tmp_path, cli, jsonl, prefect_api, monkeypatch
):
    from thresher.pipelines import near_dedup

    batches = planted_batches(8, n_batches=3, per_batch=30)
    files = write_batches(tmp_path / "data", batches, jsonl)
    out, drop = tmp_path / "out", tmp_path / "drop"
    drop.mkdir()
    args = ("run", "--collection", "c", "--input", str(drop / "*.jsonl"), "--out", out)
    os.link(files[0], drop / files[0].name)
    assert cli(*args)[0] == 0

    def broken(self, element):  # a fault in the middle of batch 2's near dedup
        raise RuntimeError("disk controller reset")

    monkeypatch.setattr(near_dedup.Survivors, "process", broken)
    os.link(files[1], drop / files[1].name)
    with pytest.raises(RuntimeError, match="disk controller reset"):  # a bug: its traceback
        cli(*args)
    con = catalog.connect(out)
    assert con.execute("SELECT status FROM runs WHERE batch = 2").fetchone() == ("failed",)
    states = con.execute("SELECT batch, state FROM collections ORDER BY batch").fetchall()
    assert states == [(1, "committed"), (2, "pending")]
    assert not list((out / "collections" / "c" / "index").rglob("b00002-*"))

    monkeypatch.undo()
    os.link(files[2], drop / files[2].name)  # the next night's drop is already there
    code, stdout, err = cli(*args)
    assert code == 0, err
    assert stdout.index("batch 2") < stdout.index("batch 3")  # the unfinished batch first
    state = Collection(out, "c")
    committed = {b["batch"]: b for b in state.committed()}
    assert sorted(committed) == [1, 2, 3] and state.state["pending"] is None
    assert [Path(f[0]).name for f in committed[2]["inputs"]] == [files[1].name]
    assert [Path(f[0]).name for f in committed[3]["inputs"]] == [files[2].name]
    con = catalog.connect(out)
    assert con.execute("SELECT status, attempts FROM runs WHERE batch = 2").fetchone() == (
        "succeeded",
        2,
    )


def test_a_second_writer_of_a_collection_is_refused_in_one_line(tmp_path, cli, jsonl, prefect_api):
    from thresher.pipelines import runlock
    from thresher.pipelines.collection import collection_dir

    files = write_batches(tmp_path / "data", planted_batches(10, n_batches=1, per_batch=10), jsonl)
    out = tmp_path / "out"
    with runlock.hold(collection_dir(out, "c")):  # another batch of `c` is running
        code, _, err = cli("run", "--collection", "c", "--input", files[0], "--out", out)
    assert code == 1
    assert "collection c is being written by PID" in err and len(err.strip().splitlines()) == 1
    assert not (out / "collections" / "c" / "collection.json").exists()
